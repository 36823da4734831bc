import type { NetworkInterfaceInfo } from 'node:os'
import { describe, expect, it } from 'vitest'
import { ALL_TARGETS, type TargetOptions, planForSource, planSenders } from '../src/targets.js'

const v4 = (address: string, prefix: number, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '',
  family: 'IPv4',
  mac: '00:00:00:00:00:00',
  internal,
  cidr: `${address}/${prefix}`,
})
const v6 = (address: string, prefix: number, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '',
  family: 'IPv6',
  mac: '00:00:00:00:00:00',
  internal,
  cidr: `${address}/${prefix}`,
  scopeid: 0,
})

const interfaces = {
  lo: [v4('127.0.0.1', 8, true), v6('::1', 128, true)],
  eth0: [v4('192.168.1.5', 24), v4('10.9.0.5', 16), v6('fe80::5', 64), v6('2001:db8::5', 64)],
  wg0: [v4('10.200.0.2', 32)],
}
const defaults: TargetOptions = { targets: ALL_TARGETS, loopback: false, multicastGroup: '239.255.84.84', multicastGroup6: 'ff02::5484' }

describe('beacon targets', () => {
  it('by default: every non-loopback interface, all four kinds', () => {
    const plans = planSenders(interfaces, defaults)
    expect(plans.map((p) => [p.key, p.destinations.map((d) => d.host)])).toEqual([
      ['4|eth0|192.168.1.5', ['239.255.84.84', '255.255.255.255', '192.168.1.255', '10.9.255.255']],
      ['6|eth0', ['ff02::5484%eth0']],
      ['4|wg0|10.200.0.2', ['239.255.84.84', '255.255.255.255']],
    ])
    expect(plans[0]?.bindAddress).toBe('192.168.1.5')
    expect(plans[0]?.membership).toEqual({ group: '239.255.84.84', interfaceAddress: '192.168.1.5' })
    expect(plans[1]?.multicastInterface).toBe('::%eth0')
  })

  it('in loopback mode: the loopback interface only, never 255.255.255.255 or IPv6 multicast', () => {
    const plans = planSenders(interfaces, { ...defaults, loopback: true })
    expect(plans.map((p) => [p.key, p.destinations.map((d) => d.host)])).toEqual([['4|lo|127.0.0.1', ['239.255.84.84', '127.255.255.255']]])
    expect(plans[0]?.outgoing.loopback).toBe(true)
  })

  it('restricted by interface names and target kinds', () => {
    const plans = planSenders(interfaces, { ...defaults, interfaces: ['eth0'], targets: ['multicast'] })
    expect(plans.map((p) => [p.key, p.destinations.map((d) => d.host)])).toEqual([['4|eth0|192.168.1.5', ['239.255.84.84']]])
    expect(planSenders(interfaces, { ...defaults, interfaces: ['nope'] })).toEqual([])
  })

  it('answers a querier only through the link it is on', () => {
    const plans = planSenders(interfaces, defaults)
    expect(planForSource(plans, '192.168.1.77')?.key).toBe('4|eth0|192.168.1.5')
    expect(planForSource(plans, '10.9.200.1')?.key).toBe('4|eth0|192.168.1.5')
    expect(planForSource(plans, 'fe80::77%eth0')?.key).toBe('6|eth0')
    expect(planForSource(plans, '2001:db8::77')?.key).toBe('6|eth0')
    expect(planForSource(plans, '8.8.8.8')).toBeUndefined()
    expect(planForSource(plans, '203.0.113.9')).toBeUndefined()
  })
})
