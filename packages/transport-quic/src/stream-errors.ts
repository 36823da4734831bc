import { StreamResetError, isCrustError } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'
import type { StreamCodeToReason, StreamReasonToCode } from '@crust/quic-lib'
import { closeOfLibraryError } from './failures.js'

/**
 * What the library puts into a stream's RESET_STREAM / STOP_SENDING frame:
 * our own resets carry their code; anything else (a connection closing) is 0.
 */
export const reasonToCode: StreamReasonToCode = (_type, reason) =>
  isCrustError(reason, 'ERR_STREAM_RESET') ? reason.resetCode >>> 0 : 0

/** The error a stream's reader or writer sees when the peer reset it. */
export const codeToReason: StreamCodeToReason = (type, code) =>
  new StreamResetError(
    type === 'read' ? `Stream reset by the remote peer (code ${code})` : `The remote peer stopped reading the stream (code ${code})`,
    code,
    true,
  )

/**
 * Anything a read or write failed with, as the contract's `StreamResetError`;
 * when the connection's close failed the stream, it carries that close.
 */
export function asStreamError(error: unknown, streamId: number): Error {
  if (isCrustError(error)) return error
  const detail = errorMessage(error)
  const closeInfo = closeOfLibraryError(error)
  return new StreamResetError(`Stream ${streamId} aborted: ${detail}`, 0, true, closeInfo === undefined ? undefined : { closeInfo })
}
