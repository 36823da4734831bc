/**
 * `@crust/mux`: a lean stream multiplexer over one byte stream (a TLS
 * socket), with per-stream flow control and QUIC-style stream credit.
 *
 * @packageDocumentation
 */
export { DEFAULT_MAX_QUEUED_CONTROL, type InboundGate, Muxer, type MuxerOptions, type OpenStreamOptions } from './muxer.js'
export { MuxStream } from './stream.js'
export { MuxedConnection, type MuxedConnectionParts } from './muxed-connection.js'
/** Re-exported from `@crust/core`, where every transport's streams share it. */
export { StreamStateError } from '@crust/core'
export { FrameDecoder } from './decoder.js'
export {
  encodeFrame,
  encodeHeader,
  Flag,
  type Frame,
  FrameType,
  HEADER_LENGTH,
  INITIAL_MAX_STREAMS,
  INITIAL_WINDOW,
  MAX_FRAME_PAYLOAD,
  MAX_REASON_LENGTH,
  MAX_WRITE_FRAME,
  VERSION,
} from './frame.js'
export { DEFAULT_INITIAL_WINDOW, DEFAULT_MAX_WINDOW } from './flow-control.js'
