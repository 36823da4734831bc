/**
 * File names a receiver accepts: a plain name it can save in its inbox as
 * is. Anything else (a path, `..`, a hidden or control-character name) is
 * refused rather than rewritten, so the sender learns the file was not saved
 * under the name it chose.
 *
 * @packageDocumentation
 */

/** Why `name` cannot be saved as it is, or undefined when it can. */
export function badFileName(name: string): string | undefined {
  if (name === '' || name.trim() !== name) return 'the name is empty or starts or ends with spaces'
  if (Buffer.byteLength(name, 'utf8') > 255) return 'the name is longer than 255 bytes'
  if (/[/\\]/.test(name)) return 'the name contains a path separator (no directories or paths)'
  if (name === '.' || name === '..') return `'${name}' is not a file name`
  if (name.startsWith('.')) return 'hidden names (starting with a dot) are not accepted'
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'the name contains control characters'
  if (/[:*?"<>|]/.test(name)) return 'the name contains a character not allowed in file names (: * ? " < > |)'
  return undefined
}
