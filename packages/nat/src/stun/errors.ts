import { CrustError } from '@crust/core'

/** Why STUN could not tell the node's reflexive address. */
export type StunFailure = 'timeout' | 'no-socket' | 'no-servers' | 'bad-server'

/** A STUN query failed; `reason` says why in one word. */
export class StunError extends CrustError {
  constructor(
    readonly reason: StunFailure,
    message: string,
  ) {
    super('ERR_STUN', message)
  }
}
