import type { ServiceFactory } from '@crust/core'
import { HolePunchService } from './holepunch-service.js'
import { type HolePunchOptions, parseHolePunchOptions } from './options.js'

export { HolePunchError, type HolePunchFailure } from './errors.js'
export { HolePunchService } from './holepunch-service.js'
export { HOLE_PUNCH_PROTOCOL } from './messages.js'
export { screenCandidates, MAX_CANDIDATES, type CandidateRejection } from './candidates.js'
export { punchPacket, readPunch } from './puncher.js'
export type { HolePunchOptions } from './options.js'

/**
 * The hole punching service plugin: connects to peers behind NATs through a
 * peer both are connected to (which also needs this plugin, to act as
 * rendezvous). Needs the QUIC transport; use with `stun()` so each side
 * knows its reflexive address, e.g. `services: [stun({ servers }), holePunch()]`.
 */
export function holePunch(options?: HolePunchOptions): ServiceFactory {
  const resolved = parseHolePunchOptions(options)
  return (components) => new HolePunchService(components, resolved)
}
