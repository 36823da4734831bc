export { NetLab } from './lab.js'
export { LabHost, LabCallError } from './lab-host.js'
export { labSupport, announceSkip, type LabSupport } from './support.js'
export type { StartParams, LabTransport } from './host-protocol.js'
