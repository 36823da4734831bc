import type { CliIo } from './io.js'

/** One `crust` subcommand. */
export interface Command {
  /** What the user types, e.g. `start`. */
  readonly name: string
  /** One line for `crust --help`. */
  readonly summary: string
  /** The full text of `crust <name> --help`. */
  readonly help: string
  /** Run with the arguments after the command name; resolves to the exit code. */
  run(args: readonly string[], io: CliIo): Promise<number>
}

/** A command as the dispatcher knows it before loading it (commands load their dependencies lazily). */
export interface CommandEntry {
  readonly name: string
  readonly summary: string
  load(): Promise<Command>
}
