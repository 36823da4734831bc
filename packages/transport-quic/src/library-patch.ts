import { CrustError } from '@crust/core'
import { QUICSocket, native } from '@crust/quic-lib'

/**
 * QUIC cannot run in this process: `@matrixai/quic`'s native module is not
 * installed for this platform (or none is published for it), or
 * `@crust/quic-lib` was replaced by a copy without Crust's hooks. Thrown
 * when the transport binds its socket (the node's `start()`, a dial), never
 * on import: an application that only uses TCP is not affected.
 */
export class QuicUnavailableError extends CrustError {
  /** `process.platform` of this process. */
  readonly platform: string
  /** `process.arch` of this process. */
  readonly arch: string
  /** The npm packages that would provide the native module (empty when none is published for this platform). */
  readonly packages: readonly string[]

  constructor(message: string, details: { platform: string; arch: string; packages: readonly string[] }, options?: { cause?: unknown }) {
    super('ERR_QUIC_UNAVAILABLE', message, options)
    this.name = 'QuicUnavailableError'
    this.platform = details.platform
    this.arch = details.arch
    this.packages = details.packages
  }
}

/**
 * True when the loaded QUIC library is `@crust/quic-lib` with Crust's
 * changes (see its README), whose hooks the transport needs (its accept
 * gate among them). False only if something else was substituted for it
 * (e.g. an `overrides` entry pointing `@crust/quic-lib` elsewhere).
 */
export function libraryIsPatched(): boolean {
  return typeof QUICSocket.prototype.getConnection === 'function'
}

/**
 * Load the native QUIC module now (the library loads it on first use), or
 * throw {@link QuicUnavailableError} naming the platform and the missing
 * package.
 */
export function assertQuicAvailable(): void {
  const here = { platform: process.platform, arch: process.arch }
  if (!libraryIsPatched()) {
    throw new QuicUnavailableError(
      "@crust/quic-lib as loaded does not carry Crust's changes to @matrixai/quic (was it replaced?): the QUIC transport needs its hooks",
      { ...here, packages: [] },
    )
  }
  try {
    native.loadQuiche()
  } catch (error) {
    if (!(error instanceof native.NativeBindingError)) throw error
    const { packages } = error
    const missing =
      packages.length === 0
        ? 'no native module of @matrixai/quic is published for it'
        : `its native module is not installed: ${packages.join(' or ')} (an optional dependency of @crust/quic-lib; was it skipped, e.g. by --no-optional?)`
    throw new QuicUnavailableError(`QUIC is not available on ${error.platform}-${error.arch}: ${missing}`, { ...here, packages }, { cause: error })
  }
}
