/**
 * Relay fallback: `relayServer()` lets a public node carry connections
 * between peers that cannot reach each other; `relay()` makes a node use
 * such relays when direct dials (and hole punching) fail, accept relayed
 * connections, and upgrade them to direct ones when a path appears. TLS 1.3
 * runs end to end: a relay forwards ciphertext only.
 *
 * @packageDocumentation
 */
export { relayServer, type RelayServerHandle, type RelayServerStats } from './server.js'
export { relay } from './client.js'
export type { RelayServerOptions, RelayOptions } from './options.js'
export { RelayError, type RelayErrorReason, type RelayLimit } from './errors.js'
export type { RelayedChunk } from './circuit.js'
