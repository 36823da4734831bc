import { CrustError, type CrustErrorOptions } from '@crust/core'

/** Why hole punching did not produce a connection. */
export type HolePunchFailure =
  | 'no-rendezvous'
  | 'not-connected'
  | 'self'
  | 'refused'
  | 'rate-limited'
  | 'bad-candidates'
  | 'bad-message'
  | 'symmetric'
  | 'timeout'

/** Hole punching failed; `reason` says why in one word. */
export class HolePunchError extends CrustError {
  constructor(
    readonly reason: HolePunchFailure,
    message: string,
    options?: CrustErrorOptions,
  ) {
    super('ERR_HOLE_PUNCH', message, options)
  }
}
