export { NetLab } from './lab.js'
export { LabHost, LabCallError } from './lab-host.js'
export { labSupport, labReady, announceSkip, type LabSupport } from './support.js'
export {
  createNatLab,
  type NatLab,
  type NatLabOptions,
  type LabRouter,
  type LabNode,
  type RouterKind,
  type RouterSpec,
  type LabGateway,
} from './nat-lab.js'
export { stopGateway, startGateway, rebootGateway, gatewayLeases } from './gateway.js'
export type { StartParams, LabTransport } from './host-protocol.js'
export { remapNat, flushConntrack, setWanLoss, setUdpTimeout, udpTimeouts, blackhole } from './net-events.js'
export type { NodeFeatures, SendRecord, RequestBatchResult, TrafficPeer } from './traffic.js'
