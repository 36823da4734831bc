import { CrustError } from '@crust/core'

/**
 * A stream operation that its state does not allow: writing after `end()`,
 * writing on the acceptor side of a unidirectional stream, or two concurrent
 * reads. It is a programming error in the caller, not a network failure, so
 * it is distinct from `StreamResetError`.
 */
export class StreamStateError extends CrustError {
  constructor(message: string) {
    super('ERR_STREAM_STATE', message)
  }
}
