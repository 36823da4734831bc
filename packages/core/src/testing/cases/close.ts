import assert from 'node:assert/strict'
import { CloseCode, type TransportConnection } from '../../transport/types.js'
import type { ComplianceCase } from '../case.js'
import { type ConnectedPair, type Harness, acceptStreams } from '../harness.js'
import { handled, pendingRead, randomData, rejection, settlesWithin, within } from '../util.js'

const MiB = 1024 * 1024

/**
 * Set up, on one connection, a stream with a pending read at both ends and a
 * stream with a pending (flow-controlled) write at both ends; close the
 * connection from `closer`; check every one of them finishes and both ends'
 * `closed` carry the code and reason.
 */
async function closeWithStreamsOpen(h: Harness, closer: 'dialer' | 'listener'): Promise<void> {
  const pair: ConnectedPair = await h.connect()
  const { outbound, inbound } = pair
  const atListener = acceptStreams(inbound)

  // Stream A: each end waits for data that never comes.
  const a = await outbound.openStream({ bidirectional: true })
  await within(a.write(Buffer.from('a')), h.eventTimeout, 'the first write on stream A')
  const aRemote = await atListener.next(h.eventTimeout, 'stream A at the listener')
  const aRemoteIterator = aRemote[Symbol.asyncIterator]()
  const first = await within(aRemoteIterator.next(), h.eventTimeout, 'the first chunk of stream A')
  assert.equal(first.done, false)
  const readAtListener = pendingRead(aRemoteIterator)
  const readAtDialer = pendingRead(a[Symbol.asyncIterator]())

  // Stream B: each end writes far more than the other will ever read.
  const big = randomData(8 * MiB)
  const b = await outbound.openStream({ bidirectional: true })
  const writeAtDialer = handled(b.write(big))
  const bRemote = await atListener.next(h.eventTimeout, 'stream B at the listener')
  const writeAtListener = handled(bRemote.write(big))
  assert.equal(await settlesWithin(Promise.race([writeAtDialer, writeAtListener]), 300), false, 'an 8 MiB write to a stream nobody reads settled: no flow control?')
  assert.equal(await settlesWithin(Promise.race([readAtDialer, readAtListener]), 0), false, 'a read with nothing to read settled')

  const [closing, other]: [TransportConnection, TransportConnection] = closer === 'dialer' ? [outbound, inbound] : [inbound, outbound]
  const code = CloseCode.DUPLICATE
  const reason = `compliance: closed by the ${closer} on purpose`
  await within(closing.close({ code, reason }), h.eventTimeout, `close() by the ${closer}`)
  const local = await within(closing.closed, h.eventTimeout, `closed at the ${closer}`)
  const remote = await within(other.closed, h.eventTimeout, 'closed at the other end')
  assert.deepEqual({ code: local.code, reason: local.reason, remote: local.remote }, { code, reason, remote: false }, `closed at the ${closer}`)
  assert.deepEqual({ code: remote.code, reason: remote.reason, remote: remote.remote }, { code, reason, remote: true }, 'closed at the other end')

  for (const [read, where] of [
    [readAtDialer, 'dialer'],
    [readAtListener, 'listener'],
  ] as const) {
    const outcome = await within(read, h.eventTimeout, `the pending read at the ${where} to end or fail`)
    assert.notEqual(outcome, 'data', `the pending read at the ${where} returned data out of nowhere`)
  }
  await rejection(writeAtDialer, h.eventTimeout, 'the pending write at the dialer')
  await rejection(writeAtListener, h.eventTimeout, 'the pending write at the listener')
  await within(closing.close({ code: CloseCode.NORMAL }), h.eventTimeout, 'a second close() (idempotent)')
  assert.equal((await closing.closed).code, code, 'a second close() changed the close code')
  for (const [connection, where] of [
    [outbound, 'dialer'],
    [inbound, 'listener'],
  ] as const) {
    await rejection(connection.openStream({ bidirectional: false }), h.eventTimeout, `openStream() at the ${where} after the close`, (s) => s.reset())
  }
}

/** Closing a connection with open streams. */
export const closeCases: ComplianceCase[] = [
  {
    name: 'close: closing a connection from the dialer ends its streams on both sides, and both see the code and reason',
    body: (h) => closeWithStreamsOpen(h, 'dialer'),
  },
  {
    name: 'close: closing a connection from the listener ends its streams on both sides, and both see the code and reason',
    body: (h) => closeWithStreamsOpen(h, 'listener'),
  },
]
