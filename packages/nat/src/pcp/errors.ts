import { CrustError } from '@crust/core'

/**
 * Why a PCP / NAT-PMP step failed, in one word:
 * - `no-gateway`: no default gateway is known (and none was configured).
 * - `timeout`: the gateway did not answer within the retransmission schedule.
 * - `malformed`: an answer from the gateway that is short, of the wrong version or opcode, or inconsistent.
 * - `unsupported`: the gateway speaks neither PCP nor NAT-PMP (an unsupported-version answer to both).
 * - `result`: the gateway answered with a non-zero result code (`resultCode`, e.g. PCP 2 NOT_AUTHORIZED).
 * - `aborted`: the service stopped while the step ran.
 */
export type PcpFailure = 'no-gateway' | 'timeout' | 'malformed' | 'unsupported' | 'result' | 'aborted'

/** A PCP or NAT-PMP step failed; `reason` says why in one word, `message` in plain words. */
export class PcpError extends CrustError {
  /** The result code of a `result` failure (PCP RFC 6887 §7.4, NAT-PMP RFC 6886 §3.5). */
  readonly resultCode: number | undefined

  constructor(
    readonly reason: PcpFailure,
    message: string,
    options: { cause?: unknown; resultCode?: number } = {},
  ) {
    super('ERR_PCP', message, options.cause === undefined ? undefined : { cause: options.cause })
    this.resultCode = options.resultCode
  }

  /** `unavailable` when no gateway answered, `refused` when one answered but would not map. */
  get state(): 'unavailable' | 'refused' {
    return this.reason === 'no-gateway' || this.reason === 'timeout' || this.reason === 'aborted' || this.reason === 'unsupported'
      ? 'unavailable'
      : 'refused'
  }
}
