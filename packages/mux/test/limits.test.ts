import { CloseCode, LimitExceededError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { encodeFrame, Flag, FrameType, Muxer } from '../src/index.js'
import { defaultLimits, sleep, tcpSockets } from './helpers.js'

/**
 * A muxer whose raw peer stops reading, resuming for 50 ms every `everyMs`
 * (0: never), and pings every 200 ms; 8 MiB queued towards it.
 */
async function writeToReader(everyMs: number, watchMs: number) {
  const { client, server } = await tcpSockets()
  const muxer = new Muxer(server, { direction: 'inbound', limits: { ...defaultLimits, idleTimeout: 1_000, keepAliveInterval: 300 } })
  client.pause()
  client.on('error', () => {})
  client.on('data', () => {})
  const timers = [
    setInterval(() => client.write(encodeFrame(FrameType.PING, Flag.SYN, 0, 1)), 200),
    ...(everyMs > 0
      ? [
          setInterval(() => {
            client.resume()
            setTimeout(() => client.pause(), 50)
          }, everyMs),
        ]
      : []),
  ]
  // 32 streams (the credit before any MAX_STREAMS) x their 256 KiB window: more than the socket buffers hold.
  const writes = Array.from({ length: 32 }, async () => {
    const stream = await muxer.openStream({ bidirectional: false })
    await stream.write(Buffer.alloc(256 * 1024)).catch(() => {})
  })
  let closedAt: number | undefined
  const started = performance.now()
  void muxer.closed.then(() => {
    closedAt = performance.now() - started
  })
  await Promise.race([muxer.closed, sleep(watchMs)])
  for (const timer of timers) clearInterval(timer)
  const info = closedAt === undefined ? undefined : await muxer.closed
  await muxer.close()
  client.destroy()
  await Promise.allSettled(writes)
  return { info, closedAt }
}

describe('a peer that does not read', () => {
  it('is closed with "write stalled" once the socket made no progress for idleTimeout', async () => {
    const { info, closedAt } = await writeToReader(0, 4_000)
    expect(info?.code).toBe(CloseCode.LIMIT_REACHED)
    expect(info?.reason).toBe('write stalled')
    expect(info?.error).toBeInstanceOf(LimitExceededError)
    // Destroyed at once: a peer that does not read would never take a GO_AWAY.
    expect(closedAt).toBeLessThan(2_500)
  })

  it('is not confused with a peer that stalls for a while: reading 50 ms in every 600 ms keeps the connection open', async () => {
    const { info } = await writeToReader(600, 3_000)
    expect(info).toBeUndefined()
  })
})
