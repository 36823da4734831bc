import type { NatStatus } from '@crust/nat'
import { describe, expect, it } from 'vitest'
import { summariseNat } from '../src/node/nat-words.js'

const status: NatStatus = {
  reflexiveAddress: undefined,
  mapping: 'unknown',
  upnp: { state: 'unavailable', mappings: [], reason: 'no UPnP gateway answered within 2000 ms' },
  pcp: {
    state: 'mapped',
    protocol: 'nat-pmp',
    gateway: '192.168.1.1',
    externalIp: '198.51.100.7',
    mappings: [{ protocol: 'tcp', internalPort: 4001, externalPort: 31337, address: 'tcp://198.51.100.7:31337' }],
  },
}

describe('summariseNat', () => {
  it('names each configured port-mapping service with what it found, PCP by the protocol the gateway spoke', () => {
    expect(summariseNat(status, ['upnp', 'pcp'])).toBe(
      'UPnP: no gateway: no UPnP gateway answered within 2000 ms; NAT-PMP: gateway 192.168.1.1 mapped tcp 4001→31337 (external IP 198.51.100.7)',
    )
    expect(summariseNat(status, ['upnp'])).not.toContain('NAT-PMP')
  })
})
