import { CrustError } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'

/**
 * Why a UPnP step failed, in one word:
 * - `no-gateway`: nothing answered the SSDP search in time.
 * - `timeout`: the gateway did not answer an HTTP request in time.
 * - `unreachable`: the gateway's HTTP server could not be reached (refused, reset).
 * - `http-status`: an HTTP status other than 200 that carried no UPnP fault.
 * - `malformed`: not XML, truncated, too large, or not the expected description or SOAP answer.
 * - `no-service`: the gateway's description lists no WAN connection service.
 * - `fault`: the gateway answered with a UPnP fault (`faultCode`, e.g. 718 ConflictInMappingEntry).
 * - `aborted`: the service stopped while the step ran.
 */
export type UpnpFailure = 'no-gateway' | 'timeout' | 'unreachable' | 'http-status' | 'malformed' | 'no-service' | 'fault' | 'aborted'

/** A UPnP step failed; `reason` says why in one word, `message` in plain words. */
export class UpnpError extends CrustError {
  /** The HTTP status, when the gateway answered with one. */
  readonly status: number | undefined
  /** The UPnP error code of a SOAP fault (e.g. 718, 725). */
  readonly faultCode: number | undefined

  constructor(
    readonly reason: UpnpFailure,
    message: string,
    options: { cause?: unknown; status?: number; faultCode?: number } = {},
  ) {
    super('ERR_UPNP', message, options.cause === undefined ? undefined : { cause: options.cause })
    this.status = options.status
    this.faultCode = options.faultCode
  }

  /**
   * Whether trying again may help: a slow, unreachable or garbled gateway may
   * recover; a deliberate fault or a missing service will not.
   */
  get retryable(): boolean {
    return this.reason === 'timeout' || this.reason === 'unreachable' || this.reason === 'http-status' || this.reason === 'malformed'
  }

  /** `unavailable` when the gateway could not be found or reached, `refused` when it answered but would not map. */
  get state(): 'unavailable' | 'refused' {
    return this.reason === 'no-gateway' || this.reason === 'timeout' || this.reason === 'unreachable' || this.reason === 'aborted'
      ? 'unavailable'
      : 'refused'
  }
}

/** UPnP fault codes this plugin reacts to. */
export const FaultCode = {
  /** The external port is mapped to another client: try another port. */
  CONFLICT: 718,
  /** The gateway only supports permanent leases: map with lease 0 (and remove on stop). */
  ONLY_PERMANENT_LEASES: 725,
} as const

/** `error` as a {@link UpnpError}: anything else (e.g. thrown by nat-upnp on a strange answer) counts as `malformed`. */
export function asUpnpError(error: unknown): UpnpError {
  if (error instanceof UpnpError) return error
  const message = errorMessage(error)
  return new UpnpError('malformed', `unexpected answer from the gateway: ${firstLine(message)}`, { cause: error })
}

/** The first line of a message (sax's parse errors span several). */
export function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? ''
}
