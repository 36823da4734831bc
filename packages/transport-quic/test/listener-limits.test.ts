/** Units behind the listener's limits (the attacks themselves are in hostile.test.ts). */
import { randomBytes } from 'node:crypto'
import { ConfigError, type LogRecord, createLogger } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { DropLog } from '../src/drop-log.js'
import { resolveOptions } from '../src/options.js'
import { RETRY_SCID_BYTES, RetryTokens } from '../src/retry-token.js'
import { sleep } from './helpers.js'

const client = { host: '192.0.2.7', port: 40_000 }

function tokens(lifetime = 10_000, maxUsed = 100) {
  let now = 1_000_000
  const t = new RetryTokens(lifetime, maxUsed, () => now)
  return { t, advance: (ms: number) => (now += ms) }
}

describe('retry tokens', () => {
  it('are accepted for their address, connection ids and lifetime only', () => {
    const { t, advance } = tokens()
    const original = randomBytes(8)
    const scid = t.newRetryScid()
    expect(scid).toHaveLength(RETRY_SCID_BYTES)
    const token = t.mint(client, original, scid)
    expect(token.length).toBeLessThanOrEqual(8 + 20 + 16)
    const ok = t.check(token, client, scid)
    expect(ok.ok && ok.original.equals(original)).toBe(true)
    // The same IP written as an IPv4-mapped IPv6 address (dual-stack socket) is the same client.
    expect(t.check(token, { host: `::ffff:${client.host}`, port: client.port }, scid).ok).toBe(true)
    expect(t.check(token, { ...client, port: client.port + 1 }, scid)).toEqual({ ok: false, reason: 'token-invalid' })
    expect(t.check(token, { ...client, host: '192.0.2.8' }, scid)).toEqual({ ok: false, reason: 'token-invalid' })
    expect(t.check(token, client, randomBytes(RETRY_SCID_BYTES))).toEqual({ ok: false, reason: 'token-invalid' })
    const tampered = Buffer.from(token)
    tampered[9] = (tampered[9] as number) ^ 1 // the original DCID
    expect(t.check(tampered, client, scid)).toEqual({ ok: false, reason: 'token-invalid' })
    advance(10_000)
    expect(t.check(token, client, scid)).toEqual({ ok: false, reason: 'token-expired' })
  })

  it('refuse foreign, truncated and malformed tokens', () => {
    const { t } = tokens()
    const other = tokens().t
    const scid = t.newRetryScid()
    expect(t.check(other.mint(client, randomBytes(8), scid), client, scid).ok).toBe(false) // another key
    const token = t.mint(client, randomBytes(8), scid)
    for (const bad of [Buffer.alloc(0), token.subarray(0, token.length - 1), Buffer.concat([token, Buffer.from([0])]), randomBytes(44)]) {
      expect(t.check(bad, client, scid)).toEqual({ ok: false, reason: 'token-invalid' })
    }
    const wrongLength = Buffer.from(token)
    wrongLength[7] = 200
    expect(t.check(wrongLength, client, scid)).toEqual({ ok: false, reason: 'token-invalid' })
  })

  it('are good for one attempt; used ones are forgotten once expired, and their number is bounded', () => {
    const { t, advance } = tokens(1000, 3)
    const scid = t.newRetryScid()
    const first = t.check(t.mint(client, randomBytes(8), scid), client, scid)
    if (!first.ok) throw new Error('valid token refused')
    expect(t.consume(first)).toBe(true)
    expect(t.consume(first)).toBe(false)
    const more = Array.from({ length: 5 }, () => {
      const check = t.check(t.mint(client, randomBytes(8), scid), client, scid)
      if (!check.ok) throw new Error('valid token refused')
      return check
    })
    for (const check of more) expect(t.consume(check)).toBe(true)
    expect((t as unknown as { used: Map<string, number> }).used.size).toBe(3)
    advance(1000)
    const late = t.check(t.mint(client, randomBytes(8), scid), client, scid)
    if (!late.ok) throw new Error('valid token refused')
    expect(t.consume(late)).toBe(true)
    expect((t as unknown as { used: Map<string, number> }).used.size).toBe(1) // the expired ones were purged
  })
})

describe('drop log', () => {
  it('counts per reason and writes one summary line per interval, never one per drop', async () => {
    const lines: LogRecord[] = []
    const log = new DropLog(createLogger('debug', 'test', (r) => lines.push(r)), 50)
    for (let i = 0; i < 1000; i++) log.count('short-datagram')
    log.count('token-reused')
    expect(lines).toHaveLength(0)
    await sleep(120)
    expect(lines).toHaveLength(1)
    expect(lines[0]!.level).toBe('warn')
    expect(lines[0]!.message).toContain('dropped 1001 datagram(s)')
    expect(lines[0]!.message).toContain('short-datagram 1000, token-reused 1')
    await sleep(120)
    expect(lines).toHaveLength(1) // nothing new, no line (and no timer running)
    log.count('unknown-connection')
    log.close()
    expect(lines[1]!.level).toBe('debug') // only routine drops
    expect(log.snapshot()['short-datagram']).toBe(1000)
  })
})

describe('options', () => {
  it('refuse limits that are not positive integers, with a ConfigError naming each', () => {
    expect(() => resolveOptions({ statelessReplyRate: 0 })).toThrow(ConfigError)
    try {
      resolveOptions({ retryTokenLifetime: -1, maxPendingHandshakes: 1.5, foreignDatagramRate: Number.NaN })
      expect.unreachable()
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['quic.retryTokenLifetime', 'quic.maxPendingHandshakes', 'quic.foreignDatagramRate'])
    }
    expect(resolveOptions({})).toMatchObject({
      retryTokenLifetime: 10_000,
      statelessReplyRate: 1000,
      maxPendingHandshakes: 256,
      foreignDatagramRate: 500,
      dropSummaryInterval: 30_000,
    })
  })
})
