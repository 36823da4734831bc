import { isCrustError } from '@crust/core'
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
  /**
   * Stable code for `--json` output: the Crust error behind it (e.g.
   * `ERR_DIAL_FAILED`, from `cause`), else `ERR_USAGE` (exit code 2) or `ERR_FAILED`.
   */
  readonly code: string

  constructor(
    message: string,
    /** The process exit code. */
    readonly exitCode: number,
    options?: { cause?: unknown; code?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    const cause = options?.cause
    this.code = options?.code ?? (isCrustError(cause) ? cause.code : exitCode === ExitCode.USAGE ? 'ERR_USAGE' : 'ERR_FAILED')
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
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.FAILURE, options)
  }
}

/**
 * A failure as `--json` prints it on stdout: `{ "error": { "code", "message" } }`.
 * The code is the Crust error's own (e.g. `ERR_DIAL_FAILED`), else `ERR_USAGE`
 * (exit code 2) or `ERR_FAILED`.
 */
export function jsonError(error: unknown): { error: { code: string; message: string } } {
  const code = error instanceof CliError ? error.code : isCrustError(error) ? error.code : 'ERR_FAILED'
  return { error: { code, message: messageOf(error) } }
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
