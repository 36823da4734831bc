/**
 * Small file helpers shared by the identity modules (internal).
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'
import { IdentityError } from '../errors.js'
import { errorMessage } from '../error-text.js'

/** True when `error` is a Node system error with `code`. */
export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code
}

/** The `IdentityError` for a file that could not be read; `kind` is e.g. `Key file`. */
export function unreadableFile(kind: string, path: string, error: unknown): IdentityError {
  const reason = isErrno(error, 'ENOENT') ? 'does not exist' : `cannot be read: ${errorMessage(error)}`
  return new IdentityError(`${kind} ${path} ${reason}`, path, { cause: error })
}

/** Read a UTF-8 file that must exist; failures become `IdentityError` naming `kind` and the path. */
export async function readRequiredFile(kind: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw unreadableFile(kind, path, error)
  }
}
