/**
 * Stateless resets: tokens, the reset packet, and whether a token fits in
 * quiche 0.18's 128-byte transport parameters (checked against quiche
 * itself). The end-to-end case, a restarted peer, is in veth-reset.test.ts.
 */
import { TokenBucket } from '@crust/core/plugin'
import { type QUICSocket, native } from '@crust/quic-lib'
import { buildQuicheConfig, serverDefault } from '@crust/quic-lib/config.js'
import { describe, expect, it } from 'vitest'
import { resolveOptions } from '../src/options.js'
import { livenessOf } from '../src/quic-config.js'
import { MIN_RESET_TRIGGER, type ServerParams, StatelessResets, tokenConfig } from '../src/stateless-reset.js'
import { newSecurity, testLimits } from './helpers.js'

const security = await newSecurity()

function resets(budget = 10): { resets: StatelessResets; sent: Buffer[] } {
  const sent: Buffer[] = []
  const socket = {
    send_: async (data: Buffer, offset: number, length: number) => {
      sent.push(Buffer.from(data.subarray(offset, offset + length)))
      return length
    },
  } as unknown as QUICSocket
  return { resets: new StatelessResets(security.privateKeyPem, socket, new TokenBucket({ perSecond: budget, burst: budget })), sent }
}

const remote = { host: '192.0.2.1', port: 4001 }

describe('stateless resets', () => {
  const cid = resets().resets.newConnectionId()

  it('derives the same token from the same key (a restarted node), a different one from another key or id', async () => {
    const token = resets().resets.tokenFor(cid)
    expect(resets().resets.tokenFor(cid)).toBe(token)
    expect(resets().resets.tokenFor(Buffer.alloc(20, 8))).not.toBe(token)
    const other = await newSecurity()
    const socket = {} as QUICSocket
    expect(new StatelessResets(other.privateKeyPem, socket, new TokenBucket({ perSecond: 1, burst: 1 })).tokenFor(cid)).not.toBe(token)
    expect(token < 2n ** 128n).toBe(true)
  })

  it('answers a datagram of at least 43 bytes with a shorter reset shaped like a short header, ending in the token', async () => {
    const { resets: r, sent } = resets()
    await r.answer(cid, MIN_RESET_TRIGGER - 1, remote)
    expect(sent).toHaveLength(0)
    await r.answer(cid, MIN_RESET_TRIGGER, remote)
    await r.answer(cid, 1350, remote)
    expect(sent.map((reset) => reset.byteLength)).toEqual([MIN_RESET_TRIGGER - 1, MIN_RESET_TRIGGER - 1])
    const token = r.tokenFor(cid).toString(16).padStart(32, '0')
    for (const reset of sent) {
      expect(reset[0]! & 0xc0).toBe(0x40) // short header, fixed bit set
      expect(reset.subarray(-16).toString('hex')).toBe(token)
    }
    expect(r.sent).toBe(2)
  })

  it('recognises the connection ids it issued, also after a restart (same key), and resets nothing else', async () => {
    const restarted = resets()
    expect(cid).toHaveLength(20)
    expect(restarted.resets.issued(cid)).toBe(true)
    const other = await newSecurity()
    expect(new StatelessResets(other.privateKeyPem, {} as QUICSocket, new TokenBucket({ perSecond: 1, burst: 1 })).issued(cid)).toBe(false)
    // Garbage that happens to look like a short-header packet (a STUN server's, a reflector's) draws nothing.
    const garbage = Buffer.from('not stun at all, but long enough to look like a header')
    expect(garbage[0]! & 0xc0).toBe(0x40)
    await restarted.resets.answer(garbage.subarray(1, 21), garbage.byteLength, remote)
    const flipped = Buffer.from(cid)
    flipped.writeUInt8(flipped.readUInt8(19) ^ 1, 19)
    await restarted.resets.answer(flipped, 1350, remote)
    expect(restarted.sent).toHaveLength(0)
  })

  it('stays within its budget', async () => {
    const { resets: r, sent } = resets(3)
    for (let i = 0; i < 10; i++) await r.answer(cid, 1350, remote)
    expect(sent).toHaveLength(3)
  })
})

describe('a reset token in quiche 0.18 transport parameters', () => {
  const options = resolveOptions({})
  const defaults: ServerParams = {
    maxIdleTimeout: livenessOf(testLimits, options).maxIdleTimeout,
    initialMaxData: options.initialMaxData,
    initialMaxStreamDataBidiLocal: options.initialMaxStreamData,
    initialMaxStreamDataBidiRemote: options.initialMaxStreamData,
    initialMaxStreamDataUni: options.initialMaxStreamData,
    initialMaxStreamsBidi: testLimits.maxInboundStreams,
    initialMaxStreamsUni: testLimits.maxInboundStreams,
    maxRecvUdpPayloadSize: options.maxUdpPayloadSize,
  }

  /** Whether quiche accepts a connection (after a Retry) with these settings: it encodes the transport parameters then. */
  function quicheAccepts(params: ServerParams, extra: object, originalDcidLength: number): boolean {
    const { quiche } = native
    const config = buildQuicheConfig({ ...serverDefault, key: security.privateKeyPem, cert: security.certificatePem, ...params, ...extra })
    try {
      quiche.Connection.accept(Buffer.alloc(20, 1), Buffer.alloc(originalDcidLength, 2), { host: '127.0.0.1', port: 1 }, { host: '127.0.0.1', port: 2 }, config)
      return true
    } catch (error) {
      expect((error as Error).message).toBe('BufferTooShort')
      return false
    }
  }

  const cases: Array<[string, Partial<ServerParams>, number]> = [
    ['defaults, a quiche client (16-byte DCID)', {}, 16],
    ['defaults, on loopback', { maxRecvUdpPayloadSize: 65_000 }, 16],
    ['defaults, a client with 20-byte DCIDs', {}, 20],
    ['1 GiB windows', { initialMaxData: 2 ** 30, initialMaxStreamDataBidiLocal: 2 ** 30 }, 16],
    ['few streams, short idle timeout, 20-byte DCIDs', { initialMaxStreamsBidi: 32, initialMaxStreamsUni: 32, maxIdleTimeout: 10_000 }, 20],
  ]
  for (const [name, change, dcidLength] of cases) {
    it(`fits exactly when quiche can encode it: ${name}`, () => {
      const params = { ...defaults, ...change }
      const overrides = tokenConfig(2n ** 127n + 1n, params, dcidLength)
      const fits = overrides !== undefined
      expect(quicheAccepts(params, overrides ?? { statelessResetToken: 2n ** 127n + 1n, ackDelayExponent: 0 }, dcidLength)).toBe(fits)
      if (name.startsWith('defaults, a quiche') || name.includes('loopback')) expect(fits).toBe(true)
    })
  }
})
