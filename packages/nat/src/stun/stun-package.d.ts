// The parts of the untyped `stun` package (2.x) this plugin and its tests use:
// message encoding and decoding only (the transport is the node's own QUIC
// socket). Mirrors the package's classes: `createMessage` builds a
// StunRequest, `decode` returns a StunResponse.
declare module 'stun' {
  interface StunAddressValue {
    readonly address: string
    readonly port: number
    readonly family: string
  }
  interface StunAttribute {
    readonly type: number
    readonly value: unknown
  }
  /** What every STUN message has. */
  interface StunMessage {
    readonly type: number
    readonly transactionId: Buffer
    getAttribute(type: number): StunAttribute | undefined
  }
  /** A decoded (incoming) message. */
  interface StunResponse extends StunMessage {
    getXorAddress(): StunAddressValue | undefined
    getAddress(): StunAddressValue | undefined
  }
  /** An outgoing message under construction. */
  interface StunRequest extends StunMessage {
    /** Adds an XOR-MAPPED-ADDRESS attribute; undefined if the message already has one. */
    addXorAddress(address: string, port: number): StunAttribute | undefined
    toBuffer(): Buffer
  }
  /** The constants this code uses (the package exports every message type, attribute and error code). */
  interface StunConstants {
    readonly STUN_BINDING_REQUEST: number
    readonly STUN_BINDING_RESPONSE: number
    readonly STUN_ATTR_OTHER_ADDRESS: number
  }
  interface Stun {
    createMessage(type: number, transaction?: Buffer): StunRequest
    decode(message: Buffer): StunResponse
    readonly constants: StunConstants
  }
  const stun: Stun
  export default stun
}
