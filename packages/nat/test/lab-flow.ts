/**
 * Reading a lab scenario's message flow (`startFlow` on one node, `flow`
 * events on the receivers) and its nodes' timelines: shared by the lab tests
 * that restart or move nodes under a flow.
 */
import type { LabHost } from '../../../tools/netlab/src/index.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The method of `from`'s connection to `to` (`none` without one). */
export async function methodOf(from: LabHost, to: LabHost): Promise<string> {
  const connection = (await from.call('connection', { peerId: to.peerId }).catch(() => null)) as { method: string } | null
  return connection?.method ?? 'none'
}

/** Flow messages the receivers got: seq → copies, first arrival, when it was sent. */
export function flowArrivals(...receivers: LabHost[]): Map<number, { copies: number; at: number; sentAt: number }> {
  const seen = new Map<number, { copies: number; at: number; sentAt: number }>()
  for (const receiver of receivers) {
    for (const event of receiver.events) {
      if (event.event !== 'flow') continue
      const [seq, sentAt, at] = event.payload as [number, number, number]
      const known = seen.get(seq)
      if (known) known.copies++
      else seen.set(seq, { copies: 1, at, sentAt })
    }
  }
  return seen
}

/** Wait until a message sent at or after `since` has arrived; returns its arrival time, or null after `windowMs`. */
export async function flowingAgain(since: number, windowMs: number, receivers: () => LabHost[]): Promise<number | null> {
  const deadline = since + windowMs
  while (Date.now() < deadline) {
    const fresh = [...flowArrivals(...receivers()).values()].filter((arrival) => arrival.sentAt >= since)
    if (fresh.length > 0) return Math.min(...fresh.map((arrival) => arrival.at))
    await sleep(50)
  }
  return null
}

/** Each node's events (and logs, with CRUST_LAB_LOG) relative to `since`, for diagnosing a scenario. */
export function printTimeline(since: number, hosts: Record<string, LabHost>): void {
  for (const [name, host] of Object.entries(hosts)) {
    const lines = host.events
      .filter((event) => event.event !== 'flow' && (event.payload as { at?: number } | undefined)?.at !== undefined)
      .map((event) => `  ${((event.payload as { at: number }).at - since).toString().padStart(6)} ms ${event.event} ${JSON.stringify(event.payload)}`)
    process.stdout.write(`--- ${name} ${host.peerId.slice(0, 12)}\n${lines.join('\n')}\n${host.log}\n`)
  }
}
