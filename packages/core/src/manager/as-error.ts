/** `error` as an `Error` (a thrown non-Error becomes one with its text). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
