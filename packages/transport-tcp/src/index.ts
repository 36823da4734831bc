/**
 * `@crust/transport-tcp`: TCP + TLS 1.3 transport plugin for Crust, with a
 * multiplexer that gives each message its own flow-controlled stream.
 *
 * @example
 * ```ts
 * import { createNode } from '@crust/core'
 * import { tcp } from '@crust/transport-tcp'
 * const node = await createNode({ networkName: 'demo', transports: [tcp({ port: 0 })] })
 * ```
 * @packageDocumentation
 */
import type { TransportFactory } from '@crust/core'
import { parseTcpOptions, type TcpOptions } from './options.js'
import { TcpTransport } from './tcp-transport.js'

export type { TcpOptions } from './options.js'
export type { TcpTransport } from './tcp-transport.js'
export type { TcpConnection } from './tcp-connection.js'

/**
 * The TCP transport plugin: pass `tcp(options)` in the node's `transports`.
 *
 * @throws ConfigError naming each bad option (at once, not at `start()`)
 */
export function tcp(options: TcpOptions = {}): TransportFactory {
  const parsed = parseTcpOptions(options)
  return (components) => new TcpTransport(components, parsed)
}
