import type { NetworkInterfaceInfo } from 'node:os'
import { describe, expect, it, vi } from 'vitest'
import { expandWildcard, formatAddress, isGlobalAddress, isLanScoped, isLoopback, isWildcard, normalizeIp, parseAddress } from '../../src/plugin.js'

/** A host with loopback, a LAN address and a link-local address in each family, listed loopback last. */
const interfaces = vi.hoisted(() => {
  const entry = (address: string, family: 'IPv4' | 'IPv6') => ({ address, family }) as NetworkInterfaceInfo
  return {
    eth0: [entry('192.0.2.7', 'IPv4'), entry('2001:db8::7', 'IPv6'), entry('fe80::7', 'IPv6'), entry('FE80::8', 'IPv6')],
    lo: [entry('127.0.0.1', 'IPv4'), entry('::1', 'IPv6')],
  }
})
vi.mock('node:os', async (original) => ({ ...(await original<typeof import('node:os')>()), networkInterfaces: () => interfaces }))

describe('parseAddress / formatAddress / normalizeIp', () => {
  it('round-trips IPv4 and bracketed IPv6 addresses', () => {
    expect(parseAddress('tcp://127.0.0.1:4001')).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 4001 })
    expect(parseAddress('quic://[::1]:4001')).toEqual({ transport: 'quic', host: '::1', port: 4001 })
    expect(formatAddress('quic', '::1', 4001)).toBe('quic://[::1]:4001')
    expect(parseAddress('tcp://127.0.0.1:70000')).toBeUndefined()
  })

  it('strips the IPv4-mapped prefix only from IPv4-mapped addresses', () => {
    expect(normalizeIp('::ffff:10.0.0.1')).toBe('10.0.0.1')
    expect(normalizeIp('::ffff:1')).toBe('::ffff:1')
  })
})

describe('isLoopback', () => {
  it('matches 127.0.0.0/8 and ::1 in every spelling, IPv4-mapped and zoned', () => {
    for (const host of ['127.0.0.1', '127.9.9.9', '127.255.255.255', '127.0.0.1%lo', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::1%lo']) {
      expect(isLoopback(host), host).toBe(true)
    }
  })

  it('rejects everything else, names included', () => {
    for (const host of ['10.0.0.1', '128.0.0.1', '126.255.255.255', '1.127.0.0', '127.0.0', '127.0.0.256', '0127.0.0.1', '::2', 'fe80::1', '::ffff:10.0.0.1', '0.0.0.0', '::', 'localhost', '127.example', '']) {
      expect(isLoopback(host), host).toBe(false)
    }
  })
})

describe('isWildcard', () => {
  it('matches 0.0.0.0 and :: in every spelling, IPv4-mapped too', () => {
    for (const host of ['0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0']) expect(isWildcard(host), host).toBe(true)
  })

  it('rejects concrete addresses and names', () => {
    for (const host of ['127.0.0.1', '0.0.0.1', '10.0.0.0', '00.0.0.0', '::1', 'localhost', '']) expect(isWildcard(host), host).toBe(false)
  })
})

describe('isLanScoped / isGlobalAddress', () => {
  it('private, CGNAT, link-local and unique-local IPs are LAN-scoped, in any spelling', () => {
    for (const host of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.7', '100.64.0.1', '169.254.1.1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1']) {
      expect(isLanScoped(host), host).toBe(true)
    }
    for (const host of ['203.0.113.7', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:db8::1', '127.0.0.1', 'example.com']) {
      expect(isLanScoped(host), host).toBe(false)
    }
  })

  it('a global address names an IP that is neither loopback, LAN-scoped nor a wildcard', () => {
    expect(isGlobalAddress('tcp://203.0.113.7:40001')).toBe(true)
    expect(isGlobalAddress('quic://[2001:db8::1]:4001')).toBe(true)
    for (const address of ['tcp://10.0.0.2:1', 'tcp://127.0.0.1:1', 'tcp://0.0.0.0:1', 'quic://[::1]:1', 'tcp://example.com:1', 'not an address']) {
      expect(isGlobalAddress(address), address).toBe(false)
    }
  })
})

describe('expandWildcard', () => {
  it('returns a concrete host alone, without an IPv4-mapped prefix', () => {
    expect(expandWildcard('192.0.2.7')).toEqual(['192.0.2.7'])
    expect(expandWildcard('::ffff:127.0.0.1')).toEqual(['127.0.0.1'])
    expect(expandWildcard('::1', { dualStack: true })).toEqual(['::1'])
  })

  it('lists the IPv4 interface addresses of 0.0.0.0 (and of its IPv4-mapped form), loopback first', () => {
    expect(expandWildcard('0.0.0.0')).toEqual(['127.0.0.1', '192.0.2.7'])
    expect(expandWildcard('::ffff:0.0.0.0', { dualStack: true })).toEqual(['127.0.0.1', '192.0.2.7'])
  })

  it('lists the IPv6 addresses of ::, without link-local ones, loopback first', () => {
    expect(expandWildcard('::')).toEqual(['::1', '2001:db8::7'])
  })

  it('lists both families of a dual-stack ::, IPv4 first', () => {
    expect(expandWildcard('::', { dualStack: true })).toEqual(['127.0.0.1', '192.0.2.7', '::1', '2001:db8::7'])
  })
})
