/**
 * `@crust/transport-quic`: QUIC transport plugin for Crust, on
 * `@matrixai/quic` (quiche + BoringSSL; as `@crust/quic-lib`, with Crust's patch).
 * Every message gets its own QUIC stream; one UDP socket per node serves
 * inbound and outbound connections.
 *
 * @example
 * ```ts
 * import { createNode } from '@crust/core'
 * import { quic } from '@crust/transport-quic'
 * const node = await createNode({ networkName: 'demo', transports: [quic({ port: 4001 })] })
 * ```
 * @packageDocumentation
 */
import type { TransportFactory } from '@crust/core'
import { type QuicOptions, resolveOptions } from './options.js'
import { QuicTransport } from './quic-transport.js'

export type { QuicOptions } from './options.js'
export type { QuicTransport, QuicListenerStats } from './quic-transport.js'
export type { DropReason } from './drop-log.js'
export type { QuicConnection } from './quic-connection.js'
export type { QuicStream } from './quic-stream.js'
/** Re-exported from `@crust/core`, where every transport's streams share it. */
export { StreamStateError } from '@crust/core'
export { libraryIsPatched, QuicUnavailableError } from './library-patch.js'

/**
 * The QUIC transport plugin: pass `quic(options)` in the node's `transports`.
 *
 * @throws ConfigError naming each bad option (at once, not at `start()`)
 */
export function quic(options: QuicOptions = {}): TransportFactory {
  resolveOptions(options)
  return (components) => new QuicTransport(components, options)
}
