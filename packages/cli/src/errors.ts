import { errorMessage } from '@crust/core/plugin'
/**
 * The two ways a command fails, and the exit code each maps to.
 *
 * @packageDocumentation
 */

/** Exit codes of the `crust` command. */
export const ExitCode = {
  OK: 0,
  /** A runtime failure: a peer unreachable, a file unreadable, no running node. */
  FAILURE: 1,
  /** The command line or the config file is wrong: nothing was attempted. */
  USAGE: 2,
  /** Interrupted (Ctrl-C) before it finished. */
  INTERRUPTED: 130,
} as const

/** A failure the user is told about in one line on stderr, with an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    /** The process exit code. */
    readonly exitCode: number,
  ) {
    super(message)
    this.name = new.target.name
  }
}

/** Bad flags, arguments or configuration: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.USAGE)
  }
}

/** Something failed at run time: exit code 1. */
export class FailureError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.FAILURE)
  }
}

/** The message of any thrown value, on one line. */
export function messageOf(error: unknown): string {
  return oneLine(errorMessage(error))
}

/** Collapse whitespace and line breaks, so an error is always exactly one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

/**
 * A file transfer the receiver refused or failed, or that could not be
 * finished (exit code 1). `reason` names why, e.g. `not-allowed`,
 * `too-large`, `hash-mismatch`, or `not-supported` (the peer takes no files).
 */
export class FileTransferError extends FailureError {
  constructor(
    /** Why, as a short name. */
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}
