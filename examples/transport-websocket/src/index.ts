/**
 * `@crust/example-transport-websocket`: a Crust transport plugin over secure
 * WebSockets, written only against the published `@crust/core` contract,
 * with `@crust/mux` for streams and `ws` for WebSockets.
 *
 * @example
 * ```ts
 * import { createNode } from '@crust/core'
 * import { websocket } from '@crust/example-transport-websocket'
 * const node = await createNode({ networkName: 'demo', transports: [websocket({ port: 443 })] })
 * ```
 * @packageDocumentation
 */
import type { TransportFactory } from '@crust/core'
import { type WebSocketOptions, resolveOptions } from './options.js'
import { WebSocketTransport } from './transport.js'

export type { WebSocketOptions } from './options.js'
export { WebSocketTransport } from './transport.js'
export { WebSocketConnection } from './connection.js'
export { SCHEME } from './addresses.js'

/** The WebSocket transport plugin: pass `websocket(options)` in the node's `transports`. Addresses read `ws://host:port`. */
export function websocket(options: WebSocketOptions = {}): TransportFactory {
  const resolved = resolveOptions(options)
  return (components) => new WebSocketTransport(components, resolved)
}
