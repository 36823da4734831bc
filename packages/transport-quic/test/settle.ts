import type { CrustNode } from '@crust/core'
import { expect } from 'vitest'

/** Every `peer:disconnected` reason the nodes hear. */
export function disconnections(...of: CrustNode[]): string[] {
  const reasons: string[] = []
  for (const node of of) node.on('peer:disconnected', (event) => reasons.push(event.reason))
  return reasons
}

/** Wait (up to `ms`) until both ends hold one connection over `transport`, then for any retirement under way. */
export async function settleOn(a: CrustNode, b: CrustNode, transport: string, ms = 4_000): Promise<void> {
  const on = (node: CrustNode): boolean => node.connections.length === 1 && node.connections[0]?.transport === transport
  const deadline = Date.now() + ms
  while (Date.now() < deadline && !(on(a) && on(b))) await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 400))
}

/** Both ends keep exactly one connection, over `transport`, and it answers (the nodes echo requests as `echo <data>`). */
export async function expectKept(client: CrustNode, server: CrustNode, transport: string): Promise<void> {
  expect(client.connections.map((c) => c.transport)).toEqual([transport])
  expect(server.connections.map((c) => c.transport)).toEqual([transport])
  const kept = client.connections[0]
  expect(kept && Buffer.from(await kept.request(Buffer.from('x'))).toString()).toBe('echo x')
}
