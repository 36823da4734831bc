/**
 * `@crust/nat`: NAT traversal service plugins for Crust. Compose the ones you
 * need: `upnp()` maps ports on a UPnP gateway, `pcp()` on a PCP or NAT-PMP one, `stun()` learns the reflexive
 * address and NAT type, `holePunch()` connects two NATed peers through a
 * rendezvous peer, and `relay()` / `relayServer()` carry end-to-end encrypted
 * connections through a public node when nothing else works.
 *
 * @packageDocumentation
 */
export * from './upnp/index.js'
export * from './pcp/index.js'
export * from './stun/index.js'
export * from './holepunch/index.js'
export * from './relay/index.js'
export { natStatus, type NatMapping, type NatStatus, type PcpStatus, type PortMapping, type UpnpStatus } from './status.js'
