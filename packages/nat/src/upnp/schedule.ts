/**
 * When to renew a mapping: at half its lease, so one failed renewal still
 * leaves time for retries before the gateway drops it. `0` (a permanent
 * mapping) is never renewed.
 */
export function renewDelay(leaseSeconds: number): number | undefined {
  return leaseSeconds > 0 ? Math.floor((leaseSeconds * 1000) / 2) : undefined
}

/** Waits between the tries of a request: `retryDelay`, doubled each time (`attempts - 1` waits). */
export function backoffDelays(attempts: number, retryDelay: number): number[] {
  return Array.from({ length: Math.max(0, attempts - 1) }, (_, i) => retryDelay * 2 ** i)
}

/** The external ports to try for a mapping: the preferred one, then two random ones (a conflict means another host holds it). */
export function externalPortCandidates(preferred: number, random: () => number = Math.random): number[] {
  const candidates = [preferred]
  for (let i = 0; i < 10 && candidates.length < 3; i++) {
    const port = 1024 + Math.floor(random() * (65_536 - 1024))
    if (!candidates.includes(port)) candidates.push(port)
  }
  return candidates
}
