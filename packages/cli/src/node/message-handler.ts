/**
 * What a `crust start` node does with incoming messages: each is shown as a
 * message (text, or its size), and requests get an empty answer. (Files come
 * on their own streams: `files/inbox.ts`.)
 *
 * @packageDocumentation
 */
import type { CrustNode } from '@crust/core'

/** A message received. */
export interface ReceivedMessage {
  readonly peerId: string
  /** The text, when the bytes are printable UTF-8. */
  readonly text?: string
  readonly bytes: number
}

/** Serve incoming messages on `node`. */
export function handleMessages(node: CrustNode, onMessage: (message: ReceivedMessage) => void): void {
  node.handle(async (message) => {
    const text = printable(message.data)
    onMessage({ peerId: message.peerId, bytes: message.data.byteLength, ...(text === undefined ? {} : { text }) })
    return undefined
  })
}

/** The bytes as text when they are valid UTF-8 without control characters (tabs and newlines allowed). */
export function printable(data: Uint8Array): string | undefined {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (text.includes('\uFFFD') || /[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) return undefined
  return text
}
