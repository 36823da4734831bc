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

/** One log line, for a {@link LogSink}. */
export interface LogRecord {
  readonly level: Exclude<LogLevel, 'silent'>
  /** Where it comes from, e.g. `crust:bciqabc…:transport:quic`. */
  readonly prefix: string
  readonly message: string
}

/** Where log lines go instead of stderr (e.g. an application's own logger). */
export type LogSink = (record: LogRecord) => void

const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** The default sink: one line on stderr. */
const stderrSink: LogSink = ({ level, prefix, message }) => {
  process.stderr.write(`${prefix} ${level}: ${message}\n`)
}

/**
 * A logger writing single lines at or above `level` to `sink` (stderr by
 * default). `CRUST_LOG=debug` in the environment overrides the configured level.
 * A sink that throws loses that line, never the caller's work.
 */
export function createLogger(level: LogLevel, prefix = 'crust', sink: LogSink = stderrSink): Logger {
  const envLevel = process.env.CRUST_LOG as LogLevel | undefined
  const threshold = severity[envLevel && envLevel in severity ? envLevel : level]
  const write = (lvl: Exclude<LogLevel, 'silent'>, message: string): void => {
    if (severity[lvl] < threshold) return
    try {
      sink({ level: lvl, prefix, message })
    } catch {
      // a broken sink must not break the node
    }
  }
  return {
    debug: (m) => write('debug', m),
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
    child: (p) => createLogger(level, `${prefix}:${p}`, sink),
  }
}
