import { QUICConnection } from '@matrixai/quic'
import type { Logger } from '@crust/core'

let warned = false

/**
 * True when the loaded `@matrixai/quic` carries Crust's patch (see the
 * README): pnpm applies it inside the Crust workspace, but not when the
 * library is installed from npm into another project.
 */
export function libraryIsPatched(): boolean {
  return typeof (QUICConnection.prototype as unknown as { scheduleFlush?: unknown }).scheduleFlush === 'function'
}

/** Say once per process, plainly, what running on the unpatched library costs. */
export function warnIfUnpatched(logger: Logger): void {
  if (warned || libraryIsPatched()) return
  warned = true
  logger.warn(
    '@matrixai/quic is running without Crust\'s patch (it is applied only inside the Crust workspace): ' +
      'QUIC works, but bulk and request throughput are about 3x lower, and a library race under heavy packet loss is not fixed',
  )
}
