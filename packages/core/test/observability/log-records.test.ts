import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { type LogRecord, createLogger, formatLogRecord, pinoSink } from '../../src/logger.js'
import { Net, contactOf } from '../policy/helpers.js'

/** A pino logger writing its JSON lines into `lines`. */
function pinoInto(lines: Array<Record<string, unknown>>): ReturnType<typeof pino> {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  return pino({ level: 'debug' }, destination)
}

describe('structured log records', () => {
  it('are objects with level, time, component, msg and the context fields; the text form is as before', () => {
    const records: LogRecord[] = []
    const logger = createLogger('debug', 'crust', (record) => records.push(record)).child('abc', { node: 'n1' }).child('transport')
    const before = Date.now()
    logger.warn('dial refused', { peerId: 'p1', address: 'tcp://127.0.0.1:1', level: 'overridden?' })
    expect(records).toHaveLength(1)
    const [record] = records
    expect({ ...record }).toEqual({
      level: 'warn',
      time: expect.any(Number),
      component: 'crust:abc:transport',
      msg: 'dial refused',
      node: 'n1',
      peerId: 'p1',
      address: 'tcp://127.0.0.1:1',
    })
    expect(record!.time).toBeGreaterThanOrEqual(before)
    // The old names still read, but are not serialised twice.
    expect(record!.message).toBe('dial refused')
    expect(record!.prefix).toBe('crust:abc:transport')
    expect(JSON.parse(JSON.stringify(record))).not.toHaveProperty('message')
    expect(formatLogRecord(record!)).toBe('crust:abc:transport warn: dial refused')
  })

  it('a node hands its records to a pino instance, with the remote peer and the node id', async () => {
    const lines: Array<Record<string, unknown>> = []
    const net = new Net()
    const b = await net.node({ logLevel: 'info', logSink: pinoSink(pinoInto(lines)) })
    const a = await net.node()
    b.blacklist.add(a.peerId)
    await expect(a.connect(contactOf(b), { retry: false })).rejects.toThrow()
    const listening = lines.find((line) => String(line.msg).includes('listening on'))
    expect(listening).toMatchObject({ level: 30, component: `crust:${b.peerId.slice(0, 12)}`, node: b.peerId })
    expect(typeof listening?.time).toBe('number')
    const refusal = lines.find((line) => line.peerId === a.peerId)
    expect(refusal, JSON.stringify(lines)).toMatchObject({ node: b.peerId, code: 'ERR_BLACKLISTED' })
  })

  it('a function sink receives the objects a node logs', async () => {
    const records: LogRecord[] = []
    const net = new Net()
    const node = await net.node({ logLevel: 'info', logSink: (record) => records.push(record) })
    const started = records.find((record) => record.msg.includes('listening on'))
    expect(started).toMatchObject({ level: 'info', component: `crust:${node.peerId.slice(0, 12)}`, node: node.peerId })
  })
})
