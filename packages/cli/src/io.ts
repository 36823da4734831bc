/**
 * What a command may touch of its process, so tests can run commands in
 * process with their own streams, environment and interrupt signal.
 *
 * @packageDocumentation
 */

/** Where a command writes: stdout or stderr. */
export interface Output {
  write(text: string): void
  /** True when a terminal is attached (live tables, progress bars, colour). */
  readonly isTTY?: boolean
  /** Terminal width in columns, when known. */
  readonly columns?: number
}

/** The process as a command sees it. */
export interface CliIo {
  readonly stdout: Output
  readonly stderr: Output
  /** Environment variables (`XDG_RUNTIME_DIR`, `NO_COLOR`, ...). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Directory relative paths are resolved against. */
  readonly cwd: string
  /** Aborted when the user asks the command to stop (Ctrl-C, SIGTERM). */
  readonly interrupt: AbortSignal
}

/** The real process: its streams, environment and working directory, with `interrupt` supplied by the caller. */
export function processIo(interrupt: AbortSignal): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    interrupt,
  }
}
