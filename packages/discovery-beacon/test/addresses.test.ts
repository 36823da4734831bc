import { describe, expect, it } from 'vitest'
import { advertisedAddresses, resolveAdvertised } from '../src/addresses.js'
import { directedBroadcast, inSubnet, ipv6ToBigInt, isGroupIp, isLinkLocalV6 } from '../src/ip.js'

describe('IP helpers', () => {
  it('classify addresses', () => {
    expect(['fe80::1', 'fe80::1%eth0', 'febf::1'].every(isLinkLocalV6)).toBe(true)
    expect(['fec0::1', '2001:db8::1', '10.0.0.1'].some(isLinkLocalV6)).toBe(false)
    expect(['224.0.0.1', '239.255.84.84', '255.255.255.255', 'ff02::1'].every(isGroupIp)).toBe(true)
    expect(['192.168.1.255', '2001:db8::ff'].some(isGroupIp)).toBe(false)
    expect(ipv6ToBigInt('::ffff:1.2.3.4')).toBe(0xffff01020304n)
    expect(ipv6ToBigInt('1:2:3:4:5:6:7:8')).toBe(0x00010002000300040005000600070008n)
  })

  it('compute subnets and directed broadcasts', () => {
    expect(directedBroadcast('192.168.1.5', 24)).toBe('192.168.1.255')
    expect(directedBroadcast('10.1.2.3', 8)).toBe('10.255.255.255')
    expect(directedBroadcast('127.0.0.1', 8)).toBe('127.255.255.255')
    expect(directedBroadcast('10.0.0.1', 31)).toBeUndefined()
    expect(directedBroadcast('10.0.0.1', 32)).toBeUndefined()
    expect(inSubnet('192.168.1.77', '192.168.1.5', 24)).toBe(true)
    expect(inSubnet('192.168.2.77', '192.168.1.5', 24)).toBe(false)
    expect(inSubnet('2001:db8::99', '2001:db8::1', 64)).toBe(true)
    expect(inSubnet('2001:db9::99', '2001:db8::1', 64)).toBe(false)
    expect(inSubnet('10.0.0.1', '2001:db8::1', 0)).toBe(false)
  })
})

describe('addresses a beacon advertises', () => {
  const eth0 = { addresses: ['192.168.1.5', '2001:db8::5', 'fe80::5'], loopback: false }
  const own = [
    'tcp://127.0.0.1:4001',
    'tcp://10.8.0.2:4001',
    'tcp://192.168.1.5:4001',
    'tcp://[::1]:4001',
    'tcp://[fe80::5]:4001',
    'tcp://[2001:db8::5]:4001',
    'tcp://192.168.1.5:4001',
    'quic://0.0.0.0:4002',
    'tcp://239.1.2.3:4001',
    'tcp://example.com:4001',
    'garbage',
  ]

  it('leave out loopback, foreign link-local, group and host-name addresses and duplicates; the outgoing interface first', () => {
    expect(advertisedAddresses(own, eth0)).toEqual([
      'tcp://192.168.1.5:4001',
      'tcp://[fe80::5]:4001', // the interface's own link-local: the source of its IPv6 beacons
      'tcp://[2001:db8::5]:4001',
      'quic://192.168.1.5:4002',
      'tcp://10.8.0.2:4001',
    ])
  })

  it('an IPv6 sender adds its link-local address for listeners bound to :: (expanded without link-local)', () => {
    const eth0v6 = { addresses: ['192.168.1.5', '2001:db8::5', 'fe80::5'], loopback: false, family: 6 as const }
    const expanded = ['tcp://127.0.0.1:4001', 'tcp://[::1]:4001', 'tcp://192.168.1.5:4001', 'tcp://[2001:db8::5]:4001']
    expect(advertisedAddresses(expanded, eth0v6)[0]).toBe('tcp://[fe80::5]:4001')
    // Not for an IPv4 sender, nor for a listener bound to one IPv6 address only.
    expect(advertisedAddresses(expanded, { ...eth0v6, family: 4 })).not.toContain('tcp://[fe80::5]:4001')
    expect(advertisedAddresses(['tcp://[2001:db8::5]:4001'], eth0v6)).not.toContain('tcp://[fe80::5]:4001')
  })

  it('include loopback addresses, first, only on a loopback interface', () => {
    const lo = { addresses: ['127.0.0.1', '::1'], loopback: true }
    expect(advertisedAddresses(own, lo)).toEqual([
      'tcp://127.0.0.1:4001',
      'tcp://[::1]:4001',
      'quic://127.0.0.1:4002',
      'tcp://10.8.0.2:4001',
      'tcp://192.168.1.5:4001',
      'tcp://[2001:db8::5]:4001',
    ])
  })
})

describe('addresses a receiver keeps', () => {
  it('replace wildcard hosts with the source; keep only addresses on the source IP', () => {
    expect(resolveAdvertised(['tcp://10.8.0.2:4001', 'tcp://0.0.0.0:4001', 'quic://[::]:4002'], '192.168.1.7')).toEqual([
      'tcp://192.168.1.7:4001',
      'quic://192.168.1.7:4002',
    ])
    // 0.0.0.0 says nothing about an IPv6 source.
    expect(resolveAdvertised(['tcp://0.0.0.0:4001', 'tcp://[::]:4001'], 'fe80::7%eth0')).toEqual(['tcp://[fe80::7%eth0]:4001'])
  })

  it('never keep a third party: other hosts, even on loopback or in the subnet, unless scope is subnet', () => {
    const advertised = ['tcp://192.168.1.8:4001', 'tcp://192.168.2.7:4001', 'tcp://127.0.0.2:4001', 'tcp://[2001:db8::8]:4001']
    expect(resolveAdvertised(advertised, '192.168.1.7')).toEqual([])
    expect(resolveAdvertised(['tcp://127.0.0.2:4001', 'tcp://[::1]:4001'], '127.0.0.1')).toEqual([])
    expect(resolveAdvertised(advertised, '192.168.1.7', { scope: 'subnet' })).toEqual(['tcp://192.168.1.8:4001'])
    expect(resolveAdvertised(advertised, '2001:db8::7', { scope: 'subnet' })).toEqual(['tcp://[2001:db8::8]:4001'])
  })

  it('keep at most one address per transport and maxAddresses in all, the source IP first', () => {
    const advertised = ['tcp://192.168.1.7:1', 'tcp://192.168.1.7:2', 'quic://192.168.1.7:3', 'ws://192.168.1.7:4']
    expect(resolveAdvertised(advertised, '192.168.1.7')).toEqual(['tcp://192.168.1.7:1', 'quic://192.168.1.7:3'])
    expect(resolveAdvertised(advertised, '192.168.1.7', { maxAddresses: 1 })).toEqual(['tcp://192.168.1.7:1'])
    expect(resolveAdvertised(['tcp://192.168.1.8:1', 'tcp://192.168.1.7:2'], '192.168.1.7', { scope: 'subnet' })).toEqual([
      'tcp://192.168.1.7:2',
    ])
  })

  it('keep loopback only from that same loopback source, never rewritten', () => {
    const advertised = ['tcp://127.0.0.1:4001', 'tcp://[::1]:4001', 'tcp://192.168.1.7:4001']
    expect(resolveAdvertised(advertised, '192.168.1.7')).toEqual(['tcp://192.168.1.7:4001'])
    expect(resolveAdvertised(advertised, '127.0.0.1')).toEqual(['tcp://127.0.0.1:4001'])
  })

  it('give link-local IPv6 the zone of the link the beacon came in on, or drop it', () => {
    expect(resolveAdvertised(['tcp://[fe80::7]:4001'], 'fe80::7%eth1')).toEqual(['tcp://[fe80::7%eth1]:4001'])
    expect(resolveAdvertised(['tcp://[fe80::7%wlan9]:4001'], 'fe80::7%eth1')).toEqual(['tcp://[fe80::7%eth1]:4001'])
    expect(resolveAdvertised(['tcp://[fe80::8]:4001'], 'fe80::7%eth1')).toEqual([])
    expect(resolveAdvertised(['tcp://[fe80::7]:4001'], '192.168.1.7')).toEqual([])
  })

  it('drop group addresses, blacklisted IPs, garbage and duplicates', () => {
    const advertised = ['tcp://224.0.0.1:1', 'tcp://255.255.255.255:1', 'x', 'tcp://10.0.0.8:1', 'tcp://10.0.0.8:1']
    expect(resolveAdvertised(advertised, '10.0.0.8', { isBlockedIp: (ip) => ip === '10.0.0.8' })).toEqual([])
    expect(resolveAdvertised(advertised, '10.0.0.8', { maxAddresses: 32 })).toEqual(['tcp://10.0.0.8:1'])
  })
})
