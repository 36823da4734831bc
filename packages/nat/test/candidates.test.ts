import type { NetworkInterfaceInfo } from 'node:os'
import { describe, expect, it } from 'vitest'
import { behindSameNat, isLanPath } from '../src/holepunch/candidates.js'
import type { NatStatus } from '../src/status.js'

function nic(address: string, cidr: string, internal = false): NetworkInterfaceInfo {
  const family = address.includes(':') ? 'IPv6' : 'IPv4'
  const base = { address, netmask: '', mac: '00:00:00:00:00:00', internal, cidr }
  return family === 'IPv6' ? { ...base, family, scopeid: 0 } : { ...base, family }
}

/** A host on 10.1.0.2/24 and fd00:1::2/64, behind a router whose WAN is 203.0.113.10. */
const interfaces = {
  lo: [nic('127.0.0.1', '127.0.0.1/8', true)],
  eth0: [nic('10.1.0.2', '10.1.0.2/24'), nic('fd00:1::2', 'fd00:1::2/64')],
}

describe('isLanPath', () => {
  it('is true for a private address on one of our subnets (no router, no NAT on the way)', () => {
    expect(isLanPath({ host: '10.1.0.3', port: 4001 }, interfaces)).toBe(true)
    expect(isLanPath({ host: 'fd00:1::7', port: 4001 }, interfaces)).toBe(true)
    expect(isLanPath({ host: '::ffff:10.1.0.3', port: 4001 }, interfaces)).toBe(true)
  })

  it('is false beyond a router: another private subnet, a carrier NAT range, public and loopback addresses', () => {
    expect(isLanPath({ host: '10.2.0.3', port: 4001 }, interfaces)).toBe(false)
    expect(isLanPath({ host: '100.64.1.10', port: 4001 }, { eth0: [nic('100.64.1.2', '100.64.1.2/24')] })).toBe(false)
    expect(isLanPath({ host: '203.0.113.10', port: 4001 }, { eth0: [nic('203.0.113.9', '203.0.113.9/24')] })).toBe(false)
    expect(isLanPath({ host: '127.0.0.1', port: 4001 }, interfaces)).toBe(false)
    expect(isLanPath({ host: 'not-an-ip', port: 4001 }, interfaces)).toBe(false)
  })
})

describe('behindSameNat', () => {
  const status = (reflexive: string | undefined, mapped: string[] = [], externalIp?: string): NatStatus => ({
    reflexiveAddress: reflexive,
    mapping: 'endpoint-independent',
    upnp: {
      state: mapped.length > 0 ? 'mapped' : 'unknown',
      mappings: mapped.map((address) => ({ protocol: 'udp' as const, internalPort: 4001, externalPort: 4001, address })),
      ...(externalIp === undefined ? {} : { externalIp }),
    },
    pcp: { state: 'unknown', mappings: [] },
  })

  it('is true when one of the peer candidates is our public address (any port)', () => {
    const theirs = [
      { host: '203.0.113.10', port: 40123 },
      { host: '10.1.0.3', port: 4001 },
    ]
    expect(behindSameNat(status('quic://203.0.113.10:40001'), theirs)).toBe(true)
    expect(behindSameNat(status(undefined, ['quic://203.0.113.10:4001']), theirs)).toBe(true)
    expect(behindSameNat(status(undefined, [], '203.0.113.10'), theirs)).toBe(true)
    const viaPcp: NatStatus = { ...status(undefined), pcp: { state: 'mapped', mappings: [], externalIp: '203.0.113.10', protocol: 'pcp' } }
    expect(behindSameNat(viaPcp, theirs)).toBe(true)
  })

  it('is false for a peer behind another public address, and when we know no public address', () => {
    const theirs = [{ host: '203.0.113.11', port: 40123 }]
    expect(behindSameNat(status('quic://203.0.113.10:40001'), theirs)).toBe(false)
    expect(behindSameNat(status(undefined), [{ host: '10.1.0.3', port: 4001 }])).toBe(false)
  })
})
