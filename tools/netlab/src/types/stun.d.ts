// The parts of the untyped `stun` package the lab uses.
declare module 'stun' {
  import type { Socket } from 'node:dgram'
  interface StunAddress {
    address: string
    port: number
    family: string
  }
  interface StunResponse {
    getXorAddress(): StunAddress
    getAddress(): StunAddress
    getOtherAddress(): StunAddress | undefined
  }
  function request(url: string, options?: { socket?: Socket; timeout?: number; retries?: number }): Promise<StunResponse>
  const stun: { request: typeof request }
  export default stun
}
