/** Codes a reader or writer puts on a stream reset so the other side can give a typed error. */
export const StreamResetCode = {
  CANCELLED: 0,
  MESSAGE_TOO_LARGE: 1,
  PROTOCOL_ERROR: 2,
  TIMEOUT: 3,
  REFUSED: 4,
  /** The receiver's memory budget for unfinished messages is used up (connection or node-wide). */
  LIMIT_EXCEEDED: 5,
  /** A resent peer-addressed request that was handled already, and whose answer was not kept: it is not run twice. */
  ANSWER_LOST: 6,
  /** The receiver handles no such application protocol (a named message, or a stream it was asked to open). */
  PROTOCOL_NOT_SUPPORTED: 7,
} as const
