import type { Logger } from '@crust/core'
import type { QUICSocket } from '@crust/quic-lib'

/** The library's logger type, which its constructors expect. */
export type LibraryLogger = NonNullable<ConstructorParameters<typeof QUICSocket>[0]['logger']>

/**
 * A logger for `@matrixai/quic` that forwards only its warnings and errors.
 * The library logs several info lines per stream and connection; its own
 * default logger prints them all and costs a record object per line, so
 * `debug`/`info` are dropped here, and `getChild` returns the same object
 * instead of allocating a child per stream.
 */
export function libraryLogger(logger: Logger): LibraryLogger {
  const quiet = {
    debug: (): void => {},
    info: (): void => {},
    warn: (message: unknown): void => logger.debug(String(message)),
    error: (message: unknown): void => logger.warn(String(message)),
    getChild: () => quiet,
  }
  return quiet as unknown as LibraryLogger
}
