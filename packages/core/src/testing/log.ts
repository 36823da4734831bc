import { createLogger, type Logger } from '../logger.js'

/** Most lines a {@link MemoryLog} keeps. */
const MAX_LINES = 400

/**
 * The transports' log, kept in memory and appended to a failing case's error
 * so the report shows what the transport said. Set `CRUST_LOG=debug` to also
 * print it live.
 */
export class MemoryLog {
  private readonly lines: string[] = []

  /** A {@link Logger} writing into this log under `prefix`. */
  logger(prefix: string): Logger {
    const live = process.env.CRUST_LOG !== undefined ? createLogger('silent', prefix) : undefined
    const write = (level: string, message: string): void => {
      this.lines.push(`${prefix} ${level}: ${message}`)
      if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES)
    }
    return {
      debug: (m) => {
        write('debug', m)
        live?.debug(m)
      },
      info: (m) => {
        write('info', m)
        live?.info(m)
      },
      warn: (m) => {
        write('warn', m)
        live?.warn(m)
      },
      error: (m) => {
        write('error', m)
        live?.error(m)
      },
      child: (p) => this.logger(`${prefix}:${p}`),
    }
  }

  /** The last `n` lines. */
  tail(n: number): string[] {
    return this.lines.slice(-n)
  }
}
