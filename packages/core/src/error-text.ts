/**
 * Turning whatever was thrown into an `Error` or its text. JavaScript can
 * throw anything (a string, `null`, an object without `toString`), so
 * `(error as Error).message` is not safe; these are.
 *
 * @packageDocumentation
 */

/** `error` itself when it is an `Error`, else a plain `Error` whose message is its text (see {@link errorMessage}). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(errorMessage(error))
}

/** The message of any thrown value: an `Error`'s `message`, else its string form; never throws. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  try {
    return String(error)
  } catch {
    // An object without a usable toString (e.g. `Object.create(null)`).
    return Object.prototype.toString.call(error)
  }
}
