import type { Transport, TransportComponents, TransportConnection, TransportFactory, TransportStream } from '@crust/core'
import { nodeComplianceTests } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { tcp } from '../src/index.js'

const loopback = () => tcp({ host: '127.0.0.1' })

describe('tcp() passes the node compliance suite', () => {
  for (const t of nodeComplianceTests({ name: 'tcp', transportId: 'tcp', transports: () => [loopback()] })) {
    it(t.name, t.run, t.timeoutMs)
  }
})

// ---- The node suite catches broken transports. ----
// Each sabotage is the real TCP transport with one contract violation; every
// case named for it must fail, and for the reason it names, which shows the
// case tests real behaviour.

/** Flip one byte of every write of 64 KiB or more. */
function corruptLargeWrites(stream: TransportStream): TransportStream {
  return {
    id: stream.id,
    direction: stream.direction,
    bidirectional: stream.bidirectional,
    write: (data, options) => {
      if (data.length < 64 * 1024) return stream.write(data, options)
      const copy = Buffer.from(data)
      copy[copy.length >> 1] = (copy[copy.length >> 1] ?? 0) ^ 0xff
      return stream.write(copy, options)
    },
    end: () => stream.end(),
    reset: (code) => stream.reset(code),
    [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
  }
}

/** `connection`, with large writes corrupted on every stream either side opens. */
function corrupting(connection: TransportConnection): TransportConnection {
  return {
    id: connection.id,
    transport: connection.transport,
    direction: connection.direction,
    remoteAddress: connection.remoteAddress,
    localAddress: connection.localAddress,
    remotePeer: connection.remotePeer,
    closed: connection.closed,
    openStream: async (options) => corruptLargeWrites(await connection.openStream(options)),
    onStream: (handler) => connection.onStream((stream) => handler(corruptLargeWrites(stream))),
    close: (options) => connection.close(options),
  }
}

/** The real transport, given `components(original)`, with `dial` replaced if `dial` is given. */
function sabotaged(
  components: (c: TransportComponents) => TransportComponents,
  dial?: (inner: Transport) => Transport['dial'],
): TransportFactory {
  return (original) => {
    const inner = loopback()(components(original))
    return {
      id: inner.id,
      defaultListenAddresses: inner.defaultListenAddresses,
      canDial: (address) => inner.canDial(address),
      listen: (address) => inner.listen(address),
      addresses: () => inner.addresses(),
      dial: dial?.(inner) ?? ((address, options) => inner.dial(address, options)),
      close: () => inner.close(),
    }
  }
}

const sabotages: Array<{ what: string; factory: TransportFactory; failing: string[]; because: RegExp }> = [
  {
    what: 'dial ignores expectedPeerId',
    factory: sabotaged(
      (c) => c,
      (inner) => (address, options) => inner.dial(address, { signal: options?.signal }),
    ),
    failing: ['auth peer-id: a listener whose key is not the expected peer id'],
    because: /the dial: expected a rejection, but it resolved/,
  },
  {
    // A dialler the listener refuses during TLS is reported only through onInboundFailure.
    what: 'inbound failures are not reported',
    factory: sabotaged((c) => ({ ...c, onInboundFailure: () => {} })),
    failing: ['auth ca: a dialler with a self-signed'],
    because: /connection:rejected on the listener/,
  },
  {
    what: 'large writes are corrupted',
    factory: sabotaged((c) => ({ ...c, onInboundConnection: (connection) => c.onInboundConnection(corrupting(connection)) })),
    failing: ['messaging: 1 MiB messages arrive intact'],
    because: /intact/,
  },
]

describe('the node compliance suite fails transports that break the contract', () => {
  for (const { what, factory, failing, because } of sabotages) {
    const tests = nodeComplianceTests({ name: `tcp (${what})`, transports: () => [factory], eventTimeout: 1_000 })
    for (const prefix of failing) {
      const matching = tests.filter((t) => t.name.startsWith(prefix))
      it(`${what}: "${prefix}…" fails`, async () => {
        expect(matching.length, `no case named "${prefix}…"`).toBeGreaterThan(0)
        for (const t of matching) await expect(t.run()).rejects.toThrow(because)
      }, 30_000)
    }
  }
})
