import type { ServiceFactory } from '@crust/core'
import { HolePunchService } from './holepunch-service.js'
import { type HolePunchOptions, parseHolePunchOptions } from './options.js'

export { HolePunchError, type HolePunchFailure } from './errors.js'
export type { HolePunchService } from './holepunch-service.js'
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
