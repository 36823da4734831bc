import { AbortError, TimeoutError } from '../errors.js'

/** The addresses of one transport, dialled together before falling back to the next transport. */
export interface TransportGroup {
  readonly transport: string
  readonly addresses: readonly string[]
}

/**
 * Group addresses by transport in preference order: transports named in
 * `preference` first, in that order, then the rest in the order their
 * addresses appear. With `pinned`, only that transport's addresses remain.
 */
export function groupByTransport(
  addresses: readonly string[],
  transportOf: (address: string) => string | undefined,
  preference: readonly string[],
  pinned?: string,
): TransportGroup[] {
  const groups = new Map<string, string[]>()
  for (const address of addresses) {
    const transport = transportOf(address)
    if (transport === undefined || (pinned !== undefined && transport !== pinned)) continue
    const group = groups.get(transport)
    if (group) group.push(address)
    else groups.set(transport, [address])
  }
  const rank = (transport: string): number => {
    const index = preference.indexOf(transport)
    return index === -1 ? preference.length : index
  }
  return [...groups.entries()]
    .map(([transport, list]) => ({ transport, addresses: list }))
    .sort((a, b) => rank(a.transport) - rank(b.transport))
}

/** Why a preferred transport was given up for a fallback. */
export type FallbackReason = 'refused' | 'timeout' | 'blocked' | 'failed'

/**
 * Classify the failure of the preferred transport. `undefined` means it had
 * not connected when the fallback won: it was too slow, i.e. timed out.
 */
export function fallbackReason(error: Error | undefined): FallbackReason {
  if (error === undefined || error instanceof TimeoutError || error instanceof AbortError) return 'timeout'
  const text = `${(error as { code?: unknown }).code ?? ''} ${error.message} ${String((error.cause as Error | undefined)?.message ?? '')}`
  if (/ECONNREFUSED|refused/i.test(text)) return 'refused'
  if (/ETIMEDOUT|timed out|timeout/i.test(text)) return 'timeout'
  if (/EHOSTUNREACH|ENETUNREACH|ECONNRESET|EACCES|EPERM|blacklist|blocked/i.test(text)) return 'blocked'
  return 'failed'
}
