import { QUICConnection } from '@crust/quic-lib'
import type { Logger } from '@crust/core'

let warned = false

/**
 * True when the loaded QUIC library carries Crust's patch of `@matrixai/quic`
 * (see the README). The transport runs on `@crust/quic-lib`, which is that
 * library with the patch applied, and whose build fails without it; so this
 * is a safety net, false only if something else was substituted for it
 * (e.g. an `overrides` entry pointing `@crust/quic-lib` elsewhere).
 */
export function libraryIsPatched(): boolean {
  return typeof (QUICConnection.prototype as unknown as { scheduleFlush?: unknown }).scheduleFlush === 'function'
}

/** Say once per process, plainly, what running on an unpatched library costs. */
export function warnIfUnpatched(logger: Logger): void {
  if (warned || libraryIsPatched()) return
  warned = true
  logger.warn(
    '@crust/quic-lib as loaded does not carry Crust\'s patch of @matrixai/quic (was it replaced?): ' +
      'QUIC works, but bulk and request throughput are about 3x lower, and a library race under heavy packet loss is not fixed',
  )
}
