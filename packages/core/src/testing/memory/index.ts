export { MemoryNetwork, MEMORY_SCHEME, type DialRecord, type DialRule } from './network.js'
export { memoryTransport, MemoryTransport, type MemoryTransportOptions } from './transport.js'
export { MemoryConnection } from './connection.js'
