/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

/** Structured context of a log record, e.g. `{ peerId, address }`: JSON-serialisable values. */
export type LogFields = Readonly<Record<string, unknown>>

/** The logging interface the core and plugins write to: one record per event. */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** A logger whose records carry an extra component name (e.g. a plugin's) and `fields` on every record. */
  child(component: string, fields?: LogFields): Logger
}

/**
 * One log record, for a {@link LogSink}: an object a structured logger
 * (pino, a JSON line writer) takes as it is. Besides the fields below it
 * carries the caller's context (`peerId`, `address`, ...), and `node`, the
 * peer id of the node that logged it.
 */
export interface LogRecord {
  readonly level: Exclude<LogLevel, 'silent'>
  /** When it was logged, `Date.now()` time. */
  readonly time: number
  /** Where it comes from, e.g. `crust:bciqabc…:transport:quic`. */
  readonly component: string
  readonly msg: string
  /** The remote peer the record is about, when there is one. */
  readonly peerId?: string
  readonly [field: string]: unknown
  /** @deprecated The same as `msg` (not an own property: JSON and spreads leave it out). */
  readonly message: string
  /** @deprecated The same as `component` (not an own property). */
  readonly prefix: string
}

/** Where log records go instead of stderr (e.g. an application's own logger; see {@link pinoSink}). */
export type LogSink = (record: LogRecord) => void

const severity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** A record: the caller's fields, then the four that no field may override. The old names are prototype getters. */
class LogEntry {
  [field: string]: unknown
  constructor(level: Exclude<LogLevel, 'silent'>, component: string, msg: string, fields: LogFields | undefined) {
    if (fields !== undefined) Object.assign(this, fields)
    this.level = level
    this.time = Date.now()
    this.component = component
    this.msg = msg
  }
  get message(): string {
    return this.msg as string
  }
  get prefix(): string {
    return this.component as string
  }
}

/** The text form of a record, as the default sink writes it: `component level: msg`. */
export function formatLogRecord(record: LogRecord): string {
  return `${record.component} ${record.level}: ${record.msg}`
}

/** The default sink: one text line on stderr. */
const stderrSink: LogSink = (record) => {
  process.stderr.write(`${formatLogRecord(record)}\n`)
}

/**
 * A logger writing records at or above `level` to `sink` (text lines on
 * stderr by default). `CRUST_LOG=debug` in the environment overrides the
 * configured level. A sink that throws loses that record, never the caller's work.
 */
export function createLogger(level: LogLevel, component = 'crust', sink: LogSink = stderrSink, bound?: LogFields): Logger {
  const envLevel = process.env.CRUST_LOG as LogLevel | undefined
  const threshold = severity[envLevel && envLevel in severity ? envLevel : level]
  const write = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields: LogFields | undefined): void => {
    if (severity[lvl] < threshold) return
    try {
      const context = bound === undefined ? fields : fields === undefined ? bound : { ...bound, ...fields }
      sink(new LogEntry(lvl, component, message, context) as unknown as LogRecord)
    } catch {
      // a broken sink must not break the node
    }
  }
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (c, f) => createLogger(level, `${component}:${c}`, sink, f === undefined ? bound : { ...bound, ...f }),
  }
}

/** A logger with pino's methods (`pino()`, or a child of one). */
export interface PinoLike {
  debug(object: object, message: string): void
  info(object: object, message: string): void
  warn(object: object, message: string): void
  error(object: object, message: string): void
}

/**
 * A sink handing records to a pino logger: `logSink: pinoSink(pino())`. Pino
 * adds its own level and time; the rest of the record (`component`,
 * `peerId`, `node`, the caller's fields) becomes the line's object and `msg` its message.
 */
export function pinoSink(target: PinoLike): LogSink {
  return (record) => {
    const { level, time: _time, msg, ...fields } = record
    target[level](fields, msg)
  }
}
