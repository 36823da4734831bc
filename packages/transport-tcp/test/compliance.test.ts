import type {
  DialOptions,
  Transport,
  TransportComponents,
  TransportConnection,
  TransportFactory,
  TransportStream,
} from '@crust/core'
import { type ComplianceTest, transportComplianceTests } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { tcp } from '../src/index.js'

const listenAddress = 'tcp://127.0.0.1:0'

describe('tcp() passes the transport compliance suite', () => {
  const tests = transportComplianceTests({
    setup: async () => ({ factory: tcp({ host: '127.0.0.1' }), listenAddress }),
  })
  for (const t of tests) it(t.name, t.run, t.timeoutMs)
})

// ---- The suite catches broken transports. ----
// Each sabotage below is the real TCP transport with one contract violation
// (a wrapper around it, or wrong components handed to it). Every case named
// for it must fail, which shows the case tests real behaviour.

interface Patches {
  components?: (components: TransportComponents) => TransportComponents
  transport?: (inner: Transport) => Partial<Pick<Transport, 'dial' | 'close' | 'addresses'>>
  connection?: (inner: TransportConnection) => Partial<Pick<TransportConnection, 'close' | 'remotePeer'>>
  stream?: (inner: TransportStream) => Partial<Pick<TransportStream, 'write' | 'end' | 'reset'>>
}

function wrapStream(inner: TransportStream, patches: Patches): TransportStream {
  const patch = patches.stream?.(inner) ?? {}
  return {
    id: inner.id,
    direction: inner.direction,
    bidirectional: inner.bidirectional,
    write: patch.write ?? ((data, options) => inner.write(data, options)),
    end: patch.end ?? (() => inner.end()),
    reset: patch.reset ?? ((code) => inner.reset(code)),
    [Symbol.asyncIterator]: () => inner[Symbol.asyncIterator](),
  }
}

function wrapConnection(inner: TransportConnection, patches: Patches): TransportConnection {
  const patch = patches.connection?.(inner) ?? {}
  return {
    id: inner.id,
    transport: inner.transport,
    direction: inner.direction,
    remoteAddress: inner.remoteAddress,
    localAddress: inner.localAddress,
    remotePeer: patch.remotePeer ?? inner.remotePeer,
    closed: inner.closed,
    openStream: async (options) => wrapStream(await inner.openStream(options), patches),
    onStream: (handler) => inner.onStream((stream) => handler(wrapStream(stream, patches))),
    close: patch.close ?? ((options) => inner.close(options)),
  }
}

function sabotaged(patches: Patches): TransportFactory {
  return (original) => {
    const components: TransportComponents = {
      ...(patches.components?.(original) ?? original),
      onInboundConnection: (connection) => original.onInboundConnection(wrapConnection(connection, patches)),
    }
    const inner = tcp({ host: '127.0.0.1' })(components)
    const patch = patches.transport?.(inner) ?? {}
    const dial = patch.dial ?? ((address: string, options?: DialOptions) => inner.dial(address, options))
    return {
      id: inner.id,
      defaultListenAddresses: inner.defaultListenAddresses,
      canDial: (address) => inner.canDial(address),
      listen: (address) => inner.listen(address),
      addresses: patch.addresses ?? (() => inner.addresses()),
      dial: async (address, options) => wrapConnection(await dial(address, options), patches),
      close: patch.close ?? (() => inner.close()),
    }
  }
}

const sabotages: Array<{ what: string; patches: Patches; failing: string[] }> = [
  {
    what: 'addresses() lists nothing',
    patches: { transport: () => ({ addresses: () => [] }) },
    failing: ['listen: addresses()'],
  },
  {
    what: 'close() leaves the listener open',
    patches: { transport: () => ({ close: async () => {} }) },
    failing: ['close(): stops listening', 'close(): closes every connection'],
  },
  {
    what: 'dial ignores expectedPeerId',
    patches: { transport: (inner) => ({ dial: (address, options) => inner.dial(address, { signal: options?.signal }) }) },
    failing: ['auth: an expectedPeerId that does not match'],
  },
  {
    what: 'the inbound side reports the wrong remote peer',
    patches: { connection: (inner) => ({ remotePeer: inner.direction === 'inbound' ? { peerId: 'bnot-the-dialer' } : inner.remotePeer }) },
    failing: ['auth: dial authenticates'],
  },
  {
    what: 'the dialer loses its FIN',
    patches: { stream: (inner) => ({ write: (data) => inner.write(data), end: async () => {} }) },
    failing: ['streams: a unidirectional stream delivers its data and FIN', 'half-close: after the dialer ends'],
  },
  {
    what: 'large writes are corrupted',
    patches: {
      stream: (inner) => ({
        write: (data, options) => {
          if (data.length < 1024 * 1024) return inner.write(data, options)
          const copy = Buffer.from(data)
          copy[copy.length >> 1] = (copy[copy.length >> 1] ?? 0) ^ 0xff
          return inner.write(copy, options)
        },
      }),
    },
    failing: ['data: a single 10 MiB write'],
  },
  {
    what: 'writes are reordered',
    patches: {
      stream: (inner) => {
        let held: Uint8Array | undefined
        return {
          write: async (data, options) => {
            if (held === undefined && options?.end !== true) {
              held = data
              return
            }
            await inner.write(data)
            if (held !== undefined) await inner.write(held)
            held = undefined
            if (options?.end === true) await inner.end()
          },
        }
      },
    },
    failing: ['data: 2,000 writes'],
  },
  {
    what: 'dial ignores its abort signal',
    patches: { transport: (inner) => ({ dial: (address, options) => inner.dial(address, { expectedPeerId: options?.expectedPeerId }) }) },
    failing: ['abort: a dial with an already-aborted signal', 'abort: a dial aborted mid-handshake'],
  },
  {
    what: 'close() drops the code and reason',
    patches: { connection: (inner) => ({ close: () => inner.close() }) },
    failing: ['close: closing a connection from the dialer', 'close: closing a connection from the listener'],
  },
  {
    what: 'the listener accepts any certificate',
    patches: {
      components: (c) => ({
        ...c,
        security: {
          ...c.security,
          verifyRemote: (der, expectedPeerId) => {
            try {
              return c.security.verifyRemote(der, expectedPeerId)
            } catch (error) {
              if (expectedPeerId !== undefined) throw error
              return { peerId: 'bunverified' }
            }
          },
        },
      }),
    },
    failing: ['auth: the listener refuses a dialer whose certificate fails'],
  },
  {
    what: 'the transport never asks the gate',
    patches: { components: (c) => ({ ...c, gate: { admitInbound: () => ({ allow: true }) } }) },
    failing: ['gate: a connection the gate refuses', 'gate: each inbound attempt', 'abort: a dial aborted mid-handshake'],
  },
  {
    what: 'the transport never releases the gate',
    patches: {
      components: (c) => ({
        ...c,
        gate: {
          admitInbound: (remote) => {
            const { release: _dropped, ...decision } = c.gate.admitInbound(remote)
            return decision
          },
        },
      }),
    },
    failing: ['gate: each inbound attempt'],
  },
  {
    what: 'writes resolve at once, whatever the flow control',
    patches: {
      stream: (inner) => ({
        write: (data, options) => {
          inner.write(data, options).catch(() => {})
          return Promise.resolve()
        },
      }),
    },
    failing: ['backpressure:'],
  },
  {
    what: 'reset() loses its code',
    patches: { stream: (inner) => ({ reset: () => inner.reset(0) }) },
    failing: ['reset: reset(code) by the opener', 'reset: reset(code) by the acceptor'],
  },
  {
    what: 'the muxer is given twice maxInboundStreams',
    patches: { components: (c) => ({ ...c, limits: { ...c.limits, maxInboundStreams: c.limits.maxInboundStreams * 2 } }) },
    failing: ['limits: the remote never has more than maxInboundStreams'],
  },
  {
    what: 'keep-alives are not sent',
    patches: { components: (c) => ({ ...c, limits: { ...c.limits, keepAliveInterval: 0 } }) },
    failing: ['limits: keep-alives keep a quiet connection open'],
  },
  {
    what: 'the idle timeout is ignored',
    patches: { components: (c) => ({ ...c, limits: { ...c.limits, idleTimeout: 0 } }) },
    failing: ['limits: a quiet connection closes after idleTimeout'],
  },
]

// Many sabotaged runs fail by waiting in vain for an event: a short event timeout
// keeps them quick. The control below shows it is long enough for the real transport,
// so each sabotaged run fails because of its sabotage, not because of the timeout.
const SABOTAGE_EVENT_TIMEOUT = 1_000

describe('the compliance suite fails transports that break the contract', () => {
  it(`the cases below pass for the real transport with a ${SABOTAGE_EVENT_TIMEOUT} ms event timeout`, async () => {
    const prefixes = sabotages.flatMap((s) => s.failing)
    const tests = transportComplianceTests({
      setup: async () => ({ factory: tcp({ host: '127.0.0.1' }), listenAddress }),
      eventTimeout: SABOTAGE_EVENT_TIMEOUT,
    }).filter((t) => prefixes.some((prefix) => t.name.startsWith(prefix)))
    expect(tests.length).toBeGreaterThan(0)
    for (const t of tests) await t.run()
  }, 120_000)

  for (const { what, patches, failing } of sabotages) {
    const tests = transportComplianceTests({
      setup: async () => ({ factory: sabotaged(patches), listenAddress }),
      eventTimeout: SABOTAGE_EVENT_TIMEOUT,
    })
    for (const prefix of failing) {
      const matching = tests.filter((t) => t.name.startsWith(prefix))
      it(`${what}: "${prefix}…" fails`, async () => {
        expect(matching.length, `no case named "${prefix}…"`).toBeGreaterThan(0)
        for (const t of matching as ComplianceTest[]) await expect(t.run()).rejects.toThrow()
      }, 60_000)
    }
  }
})
