/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

/** The logging interface the core and plugins write to. One line per event. */
export interface Logger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
  error(message: string): void
  /** A logger whose lines carry an extra prefix, e.g. a plugin name. */
  child(prefix: string): Logger
}

const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/**
 * A logger writing single lines to stderr at or above `level`.
 * `CRUST_LOG=debug` in the environment overrides the configured level.
 */
export function createLogger(level: LogLevel, prefix = 'crust'): Logger {
  const envLevel = process.env.CRUST_LOG as LogLevel | undefined
  const threshold = severity[envLevel && envLevel in severity ? envLevel : level]
  const write = (lvl: LogLevel, message: string): void => {
    if (severity[lvl] >= threshold) process.stderr.write(`${prefix} ${lvl}: ${message}\n`)
  }
  return {
    debug: (m) => write('debug', m),
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
    child: (p) => createLogger(level, `${prefix}:${p}`),
  }
}
