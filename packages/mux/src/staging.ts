/**
 * Reusable buffers for coalescing frames into one socket write.
 *
 * A flush copies every queued frame into one buffer, so that a caller may
 * reuse its own buffer as soon as its write resolves. Allocating that buffer
 * fresh for every large flush is expensive: new memory costs a page fault
 * per page on first touch, which dominated the sender's CPU on bulk
 * transfers. Large flushes therefore copy into a staging buffer from this
 * process-wide free list, which goes back to the list once the socket has
 * consumed the bytes (the write callback); only a few are kept, so idle
 * connections hold none.
 *
 * @packageDocumentation
 */

/** Size of a staging buffer: a flush threshold's worth plus one largest frame, with room to spare. */
export const STAGING_SIZE = 384 * 1024
/** Free staging buffers kept for reuse, process-wide. */
const MAX_FREE = 4

const free: Buffer[] = []

/** A staging buffer of {@link STAGING_SIZE} bytes (contents undefined). */
export function acquireStaging(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(STAGING_SIZE)
}

/** Give a staging buffer back once nothing references its bytes any more. */
export function releaseStaging(buffer: Buffer): void {
  if (free.length < MAX_FREE) free.push(buffer)
}
