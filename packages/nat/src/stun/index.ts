import type { ServiceFactory } from '@crust/core'
import { type StunOptions, parseStunOptions } from './options.js'
import { StunService } from './stun-service.js'

export { StunError, type StunFailure } from './errors.js'
export { StunService } from './stun-service.js'
export type { StunOptions } from './options.js'
export { startStunResponder, type StunResponder, type StunResponderOptions, type StunResponderStats } from './responder.js'

/**
 * The STUN service plugin: learns the reflexive UDP address of the node's
 * QUIC socket from STUN servers and classifies the NAT (`natStatus(node.nat)`), e.g.
 * `services: [stun({ servers: ['203.0.113.1:3478', '203.0.113.2:3478'] })]`.
 * Options are validated at once (a `ConfigError` names the field).
 */
export function stun(options?: StunOptions): ServiceFactory {
  const resolved = parseStunOptions(options)
  return (components) => new StunService(components, resolved)
}
