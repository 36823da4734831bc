// The parts of the untyped `stun` package this plugin uses (message encoding
// and decoding only: the transport is the node's own QUIC socket).
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
  interface StunMessage {
    readonly type: number
    readonly transactionId: Buffer
    getAttribute(type: number): StunAttribute | undefined
    getXorAddress(): StunAddressValue | undefined
    getAddress(): StunAddressValue | undefined
    toBuffer(): Buffer
  }
  interface Stun {
    createMessage(type: number, transaction?: Buffer): StunMessage
    decode(message: Buffer): StunMessage
    readonly constants: Readonly<Record<string, number>>
  }
  const stun: Stun
  export default stun
}
