// Shared by bench/run.mjs (client side) and bench/server.mjs (server side).
import { connect as tlsConnect } from 'node:tls'
import { createIdentity, createSecurityContext, tlsOptionsFor } from '@crust/core/plugin'

export const MiB = 1024 * 1024
export const NETWORK = 'crust-bench'
/** Large enough for the 64 MiB throughput message (default is 16 MiB). */
export const MAX_MESSAGE_SIZE = 128 * MiB
/** The tiny answer every server gives to a request / frame, for both implementations. */
export const REPLY = Buffer.from('k')
/** Messages up to this size are copied next to their length prefix and sent in one write. */
const COPY_LIMIT = 64 * 1024
/** Larger payloads are written in slices of this size (see RawClient.writeLarge). */
export const LARGE_WRITE_SLICE = Number(process.env.BENCH_RAW_SLICE ?? 256 * 1024)

/**
 * A throwaway self-signed identity and the node:tls options for one side, made
 * with the same helpers the Crust TCP transport uses, so the raw baseline runs
 * the same TLS 1.3 handshake (Ed25519 certificates, client certificates
 * requested, chain validation off).
 */
export async function rawTlsOptions(side) {
  const { identity } = await createIdentity()
  const security = createSecurityContext(identity, { mode: 'none' })
  return tlsOptionsFor(security, side)
}

/** Encode one 4-byte big-endian length-prefixed frame (copying the payload). */
export function encodeFrame(payload) {
  const frame = Buffer.allocUnsafe(4 + payload.byteLength)
  frame.writeUInt32BE(payload.byteLength, 0)
  frame.set(payload, 4)
  return frame
}

/**
 * Incremental decoder of length-prefixed frames. Returns `push(chunk)`, which
 * calls `onFrame(payload)` for every complete frame. A frame that arrives whole
 * in one chunk is handed over without a copy; a split one is assembled into a
 * buffer of its announced size (what an application must do to use it).
 */
export function frameReader(onFrame) {
  const header = Buffer.alloc(4)
  let headerFill = 0
  let body = null
  let bodyFill = 0
  return (chunk) => {
    let offset = 0
    while (offset < chunk.length) {
      if (body === null) {
        let length
        if (headerFill === 0 && chunk.length - offset >= 4) {
          length = chunk.readUInt32BE(offset)
          offset += 4
        } else {
          const take = Math.min(4 - headerFill, chunk.length - offset)
          chunk.copy(header, headerFill, offset, offset + take)
          headerFill += take
          offset += take
          if (headerFill < 4) return
          headerFill = 0
          length = header.readUInt32BE(0)
        }
        if (chunk.length - offset >= length) {
          onFrame(chunk.subarray(offset, offset + length))
          offset += length
          continue
        }
        body = Buffer.allocUnsafe(length)
        bodyFill = 0
      }
      const take = Math.min(body.length - bodyFill, chunk.length - offset)
      chunk.copy(body, bodyFill, offset, offset + take)
      bodyFill += take
      offset += take
      if (bodyFill === body.length) {
        const done = body
        body = null
        onFrame(done)
      }
    }
  }
}

/**
 * Client side of the raw baseline: request/response pairs over one TLS socket,
 * answers matched by order. Small requests issued in the same turn of the event
 * loop are coalesced into one socket write (as Crust's muxer does).
 */
export class RawClient {
  constructor(socket) {
    this.socket = socket
    this.waiters = []
    this.head = 0
    this.parts = []
    this.flushScheduled = false
    this.failure = null
    const push = frameReader((frame) => {
      const waiter = this.waiters[this.head]
      this.waiters[this.head++] = undefined
      if (this.head > 1024 && this.head * 2 > this.waiters.length) {
        this.waiters = this.waiters.slice(this.head)
        this.head = 0
      }
      waiter?.resolve(frame)
    })
    socket.on('data', push)
    const fail = (error) => {
      this.failure ??= error ?? new Error('raw TLS socket closed')
      for (let i = this.head; i < this.waiters.length; i++) this.waiters[i]?.reject(this.failure)
      this.waiters = []
      this.head = 0
    }
    socket.on('error', fail)
    socket.on('close', () => fail(null))
  }

  /** Open a raw TLS connection (mutual TLS 1.3, like Crust) and resolve once it is secure. */
  static connect(port, options) {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ ...options, host: '127.0.0.1', port })
      socket.setNoDelay(true)
      socket.once('error', reject)
      socket.once('secureConnect', () => {
        socket.off('error', reject)
        resolve(new RawClient(socket))
      })
    })
  }

  request(payload) {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      if (payload.byteLength <= COPY_LIMIT) {
        this.parts.push(encodeFrame(payload))
        if (!this.flushScheduled) {
          this.flushScheduled = true
          setImmediate(this.flush)
        }
      } else {
        this.flush()
        const header = Buffer.allocUnsafe(4)
        header.writeUInt32BE(payload.byteLength, 0)
        this.socket.write(header)
        this.writeLarge(payload).catch(reject)
      }
    })
  }

  /**
   * Write a large payload in slices, waiting for 'drain' when the socket is
   * full. One socket.write() of 64 MiB would make node:tls encrypt all of it
   * before the first byte leaves, so sender and receiver would not overlap.
   */
  async writeLarge(payload) {
    for (let offset = 0; offset < payload.byteLength; offset += LARGE_WRITE_SLICE) {
      if (this.failure) throw this.failure
      const slice = payload.subarray(offset, offset + LARGE_WRITE_SLICE)
      if (!this.socket.write(slice)) {
        await new Promise((resolve) => {
          const done = () => {
            this.socket.off('drain', done)
            this.socket.off('close', done)
            resolve()
          }
          this.socket.on('drain', done)
          this.socket.on('close', done)
        })
      }
    }
  }

  flush = () => {
    this.flushScheduled = false
    if (this.parts.length === 0) return
    const parts = this.parts
    this.parts = []
    this.socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts))
  }

  close() {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve()
      this.socket.once('close', resolve)
      this.socket.end()
      setTimeout(() => this.socket.destroy(), 1000).unref()
    })
  }
}
