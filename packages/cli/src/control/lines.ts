import type { Socket } from 'node:net'

/** Longest line accepted on a control socket (a request or an answer). */
const MAX_LINE = 1024 * 1024

/**
 * Call `onLine` for each newline-terminated line read from `socket`. A line
 * longer than 1 MiB destroys the socket: the peer is not speaking the protocol.
 */
export function readLines(socket: Socket, onLine: (line: string) => void): void {
  let buffered = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffered += chunk
    let newline = buffered.indexOf('\n')
    while (newline !== -1) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line !== '') onLine(line)
      newline = buffered.indexOf('\n')
    }
    if (buffered.length > MAX_LINE) socket.destroy(new Error('control socket: line too long'))
  })
}

/** Write one JSON line; ignored once the socket is closed. */
export function writeLine(socket: Socket, value: unknown): void {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(value)}\n`)
}
