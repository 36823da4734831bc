/**
 * Attack: make the node log and emit once per bad thing a peer does (junk
 * handshakes, malformed streams), turning a cheap flood into a flood of log
 * lines and events, and keep breaking the protocol on one connection.
 * Defence: reports are throttled per kind with one summary per interval; a
 * peer that keeps breaking the protocol is disconnected with a named reason.
 */
import { connect as tcpConnect } from 'node:net'
import { CloseCode, HandshakeFailedError } from '@crust/core'
import { waitUntil } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { TRANSPORTS, captureLogs, contactOf, startNode } from './nodes.js'

/** Reports of one kind that go out one by one per interval (the rest are summarised). */
const PER_INTERVAL = 10

describe('junk handshakes (tcp)', () => {
  it('300 junk handshakes give a few log lines and one summary; each refusal is an event named HandshakeFailedError', async () => {
    const logs = captureLogs()
    const victim = await startNode('tcp', {
      logLevel: 'warn',
      logSink: logs.sink,
      connection: { maxInboundPerIp: 1_000, maxInboundPerSubnet: 1_000, maxPendingInbound: 1_000 },
    })
    const rejected: Error[] = []
    victim.on('connection:rejected', ({ error }) => rejected.push(error))
    const port = Number(victim.addresses[0]!.split(':').at(-1))
    const junk = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from(
          { length: 30 },
          () =>
            new Promise<void>((resolve) => {
              const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.end(junk))
              socket.on('error', () => {})
              socket.on('close', () => resolve())
            }),
        ),
      )
    }
    // One event per refused connection (each cost the attacker a connection), each named for what happened …
    await waitUntil(() => rejected.length === 300, 5_000, 'every refusal to be reported')
    for (const error of rejected) expect(error).toBeInstanceOf(HandshakeFailedError)
    // … but only the first few log lines.
    expect(logs.records.filter((r) => r.level === 'warn')).toHaveLength(PER_INTERVAL)
    await victim.stop() // flushes the summary
    const summary = logs.records.filter((r) => /more inbound refusals \(HandshakeFailedError\)/.test(r.message))
    expect(summary).toHaveLength(1)
    expect(summary[0]?.message).toMatch(/^290 more/)
  })
})

describe.each(TRANSPORTS)('malformed streams over %s', (transport) => {
  it('a peer flooding malformed streams is disconnected after maxProtocolErrors; events are throttled; others are served', async () => {
    const victim = await startNode(transport, { connection: { maxProtocolErrors: 32 } })
    victim.handle(() => Buffer.from('served'))
    const errors: Error[] = []
    victim.on('error', ({ error }) => errors.push(error))
    const genuine = await startNode(transport)
    const genuineConnection = await genuine.connect(contactOf(victim))

    const attacker = await startNode(transport)
    const connection = await attacker.connect(contactOf(victim))
    let sent = 0
    const flood = (async () => {
      for (; sent < 200; sent++) {
        const stream = await connection.transportConnection.openStream({ bidirectional: false })
        await stream.write(Buffer.from('\xff\xffthis is not a crust message header'))
        await stream.end()
      }
    })().catch(() => {}) // the victim hangs up mid-flood
    const answered = performance.now()
    expect(Buffer.from(await genuineConnection.request(Buffer.from('hi'))).toString()).toBe('served')
    expect(performance.now() - answered).toBeLessThan(1_000)

    const closed = await connection.closed
    await flood
    expect(closed.code).toBe(CloseCode.PROTOCOL_ERROR)
    expect(closed.reason).toMatch(/too many protocol errors/)
    expect(errors.length).toBeLessThanOrEqual(PER_INTERVAL)
    expect(victim.getConnection(genuine.peerId)).toBeDefined()
    expect(Buffer.from(await genuineConnection.request(Buffer.from('still?'))).toString()).toBe('served')
  })
})
