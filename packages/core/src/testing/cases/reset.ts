import assert from 'node:assert/strict'
import type { TransportStream } from '../../transport/types.js'
import type { ComplianceCase } from '../case.js'
import { type Harness, acceptStreams } from '../harness.js'
import { assertTypedError, echo, handled, readAll, rejection, within } from '../util.js'

const resetError = { name: 'StreamResetError', code: 'ERR_STREAM_RESET' } as const
const RESET_CODE = 42

function resetCodeOf(error: unknown): unknown {
  return (error as { resetCode?: unknown } | undefined)?.resetCode
}

/** Reset a stream from `resetter` and check the other end's reads and writes fail with the code. */
async function resetReachesPeer(h: Harness, resetter: 'opener' | 'acceptor'): Promise<void> {
  const { outbound, inbound } = await h.connect()
  const accepted = acceptStreams(inbound)
  const opened = await outbound.openStream({ bidirectional: true })
  await within(opened.write(Buffer.from('before the reset')), h.eventTimeout, 'the first write')
  const remote = await accepted.next(h.eventTimeout, 'the stream at the listener')
  const remoteIterator = remote[Symbol.asyncIterator]()
  await within(remoteIterator.next(), h.eventTimeout, 'the first chunk at the listener')

  const [resetting, peer, peerIterator]: [TransportStream, TransportStream, AsyncIterator<Uint8Array>] =
    resetter === 'opener' ? [opened, remote, remoteIterator] : [remote, opened, opened[Symbol.asyncIterator]()]
  const peerRead = handled(peerIterator.next())
  resetting.reset(RESET_CODE)

  const readError = await rejection(peerRead, h.eventTimeout, `a read at the other end of a stream the ${resetter} reset`)
  assertTypedError(readError, resetError, `the read after a reset by the ${resetter}`)
  assert.equal(resetCodeOf(readError), RESET_CODE, `the read after the reset carries resetCode ${String(resetCodeOf(readError))}`)
  const writeError = await rejection(peer.write(Buffer.from('after the reset')), h.eventTimeout, `a write at the other end of a stream the ${resetter} reset`)
  assertTypedError(writeError, resetError, `the write after a reset by the ${resetter}`)
  assert.equal(resetCodeOf(writeError), RESET_CODE, `the write after the reset carries resetCode ${String(resetCodeOf(writeError))}`)
  const localError = await rejection(resetting.write(Buffer.from('after my own reset')), h.eventTimeout, 'a write on a stream this side reset')
  assertTypedError(localError, resetError, 'a write after a local reset')

  // Only that stream is gone: the connection still carries new streams.
  const fresh = await outbound.openStream({ bidirectional: true })
  const reading = handled(readAll(fresh))
  await fresh.write(Buffer.from('still alive'), { end: true })
  void echo(await accepted.next(h.eventTimeout, 'a new stream after the reset'))
  const reply = await within(reading, h.eventTimeout, 'an echo on a new stream after the reset')
  assert.equal(reply.toString(), 'still alive')
}

/** Stream resets. */
export const resetCases: ComplianceCase[] = [
  {
    name: 'reset: reset(code) by the opener reaches the acceptor as StreamResetError with that code',
    body: (h) => resetReachesPeer(h, 'opener'),
  },
  {
    name: 'reset: reset(code) by the acceptor reaches the opener as StreamResetError with that code',
    body: (h) => resetReachesPeer(h, 'acceptor'),
  },
]
