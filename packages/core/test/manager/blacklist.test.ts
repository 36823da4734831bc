import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CrustError } from '../../src/errors.js'
import { Blacklist, type BlacklistChange, InvalidEntryError, classifyBlacklistEntry } from '../../src/manager/blacklist.js'

describe('classifyBlacklistEntry', () => {
  it.each([
    ['10.0.0.1', { kind: 'ip', value: '10.0.0.1', family: 'ipv4' }],
    ['::ffff:10.0.0.1', { kind: 'ip', value: '10.0.0.1', family: 'ipv4' }],
    ['::FFFF:a00:1', { kind: 'ip', value: '10.0.0.1', family: 'ipv4' }],
    ['2001:DB8:0::0001', { kind: 'ip', value: '2001:db8::1', family: 'ipv6' }],
    ['10.0.0.0/8', { kind: 'cidr', value: '10.0.0.0/8', address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['2001:db8::/32', { kind: 'cidr', value: '2001:db8::/32', address: '2001:db8::', prefix: 32, family: 'ipv6' }],
    ['::ffff:10.0.0.0/104', { kind: 'cidr', value: '10.0.0.0/8', address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['bafkpeer123', { kind: 'peer', value: 'bafkpeer123' }],
  ])('%s', (entry, expected) => {
    expect(classifyBlacklistEntry(entry)).toEqual(expected)
  })

  it.each([
    '10.0.0.0/33',
    '2001:db8::/129',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/8.5',
    'not-an-ip/8',
    '10.0.0.256',
    '1.2.3',
    '::gg',
    'fe80::1%eth0',
    '',
    'has space',
    'x'.repeat(129),
  ])('rejects %j', (entry) => {
    const error = (() => {
      try {
        classifyBlacklistEntry(entry)
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(InvalidEntryError)
    expect(error).toBeInstanceOf(CrustError)
    expect((error as InvalidEntryError).code).toBe('ERR_INVALID_BLACKLIST_ENTRY')
    expect((error as InvalidEntryError).entry).toBe(entry)
  })

  it('accepts a 128-character peer id', () => {
    expect(classifyBlacklistEntry('p'.repeat(128)).kind).toBe('peer')
  })
})

describe('Blacklist', () => {
  it('blocks peers, IPs and CIDR ranges', () => {
    const blacklist = new Blacklist(['bad-peer', '192.0.2.7', '10.0.0.0/8', '2001:db8::/32'])
    expect(blacklist.blocksPeer('bad-peer')).toBe(true)
    expect(blacklist.blocksPeer('good-peer')).toBe(false)
    expect(blacklist.blocksIp('192.0.2.7')).toBe(true)
    expect(blacklist.blocksIp('192.0.2.8')).toBe(false)
    expect(blacklist.blocksIp('10.255.1.2')).toBe(true)
    expect(blacklist.blocksIp('11.0.0.1')).toBe(false)
    expect(blacklist.blocksIp('2001:db8:1::5')).toBe(true)
    expect(blacklist.blocksIp('2001:db9::1')).toBe(false)
  })

  it('matches IPv4-mapped IPv6 addresses against IPv4 entries', () => {
    const blacklist = new Blacklist(['10.0.0.1', '172.16.0.0/12'])
    expect(blacklist.blocksIp('::ffff:10.0.0.1')).toBe(true)
    expect(blacklist.blocksIp('::ffff:172.20.1.1')).toBe(true)
    expect(blacklist.blocksIp('::ffff:172.32.0.1')).toBe(false)
  })

  it('matches an IPv4 address against a mapped IPv6 entry', () => {
    expect(new Blacklist(['::ffff:10.0.0.1']).blocksIp('10.0.0.1')).toBe(true)
  })

  it('ignores zone ids and non-IP input when checking', () => {
    const blacklist = new Blacklist(['fe80::/10'])
    expect(blacklist.blocksIp('fe80::1%eth0')).toBe(true)
    expect(blacklist.blocksIp('not an ip')).toBe(false)
    expect(blacklist.blocksIp('')).toBe(false)
  })

  it('isBlocked checks peer id and IP', () => {
    const blacklist = new Blacklist(['bad-peer', '10.0.0.0/8'])
    expect(blacklist.isBlocked({ peerId: 'bad-peer' })).toBe(true)
    expect(blacklist.isBlocked({ ip: '10.1.1.1' })).toBe(true)
    expect(blacklist.isBlocked({ peerId: 'ok', ip: '10.1.1.1' })).toBe(true)
    expect(blacklist.isBlocked({ peerId: 'ok', ip: '192.0.2.1' })).toBe(false)
    expect(blacklist.isBlocked({})).toBe(false)
  })

  it('removes entries and rebuilds address matching', () => {
    const blacklist = new Blacklist(['10.0.0.0/8', '192.0.2.7', 'bad-peer'])
    expect(blacklist.remove('10.0.0.0/8')).toBe(true)
    expect(blacklist.blocksIp('10.1.1.1')).toBe(false)
    expect(blacklist.blocksIp('192.0.2.7')).toBe(true)
    expect(blacklist.remove('bad-peer')).toBe(true)
    expect(blacklist.blocksPeer('bad-peer')).toBe(false)
    expect(blacklist.remove('bad-peer')).toBe(false)
    expect(blacklist.remove('10.0.0.0/33')).toBe(false)
  })

  it('treats different spellings of one address as the same entry', () => {
    const blacklist = new Blacklist(['2001:db8::1'])
    expect(blacklist.add('2001:0DB8:0:0::1')).toBe(false)
    expect(blacklist.has('2001:db8:0::0001')).toBe(true)
    expect(blacklist.remove('2001:DB8::1')).toBe(true)
    expect(blacklist.entries().ips).toEqual([])
  })

  it('has() is an exact-entry test, not a match test', () => {
    const blacklist = new Blacklist(['10.0.0.0/8'])
    expect(blacklist.has('10.0.0.0/8')).toBe(true)
    expect(blacklist.has('10.0.0.1')).toBe(false)
    expect(blacklist.has('10.0.0.0/33')).toBe(false)
  })

  it('lists entries in canonical form', () => {
    const blacklist = new Blacklist(['p1', '::ffff:10.0.0.1', '10.0.0.0/8', 'p2'])
    expect(blacklist.entries()).toEqual({ peers: ['p1', 'p2'], ips: ['10.0.0.1', '10.0.0.0/8'] })
  })

  it('throws InvalidEntryError on a bad entry and stays unchanged', () => {
    const blacklist = new Blacklist()
    expect(() => blacklist.add('10.0.0.0/33')).toThrow(InvalidEntryError)
    expect(() => new Blacklist(['1.2.3.4', '300.1.1.1'])).toThrow(/Invalid IP address "300.1.1.1"/)
    expect(blacklist.entries()).toEqual({ peers: [], ips: [] })
  })

  it('notifies effective changes only, until unsubscribed', () => {
    const blacklist = new Blacklist()
    const changes: BlacklistChange[] = []
    const off = blacklist.onChange((change) => changes.push(change))
    blacklist.add('peer-a')
    blacklist.add('peer-a')
    blacklist.add('::ffff:10.0.0.1')
    blacklist.add('10.0.0.0/8')
    blacklist.remove('10.0.0.1')
    blacklist.remove('10.0.0.1')
    off()
    blacklist.add('peer-b')
    expect(changes).toEqual([
      { type: 'add', entry: 'peer-a', kind: 'peer' },
      { type: 'add', entry: '10.0.0.1', kind: 'ip' },
      { type: 'add', entry: '10.0.0.0/8', kind: 'cidr' },
      { type: 'remove', entry: '10.0.0.1', kind: 'ip' },
    ])
  })

  it('sees the new state from inside a change listener', () => {
    const blacklist = new Blacklist()
    let seen: boolean | undefined
    blacklist.onChange(() => {
      seen = blacklist.blocksIp('10.2.3.4')
    })
    blacklist.add('10.0.0.0/8')
    expect(seen).toBe(true)
  })

  it('matches IPv4 CIDRs exactly like a bitmask reference (property)', () => {
    const toInt = (ip: number[]) => ip.reduce((acc, octet) => acc * 256 + octet, 0)
    const ipArb = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
    fc.assert(
      fc.property(ipArb, fc.integer({ min: 0, max: 32 }), ipArb, (network, prefix, probe) => {
        const blacklist = new Blacklist([`${network.join('.')}/${prefix}`])
        const size = 2 ** (32 - prefix)
        const expected = Math.floor(toInt(network) / size) === Math.floor(toInt(probe) / size)
        expect(blacklist.blocksIp(probe.join('.'))).toBe(expected)
        expect(blacklist.blocksIp(`::ffff:${probe.join('.')}`)).toBe(expected)
      }),
    )
  })

  it('add then remove leaves nothing blocked (property)', () => {
    const entry = fc.oneof(fc.ipV4(), fc.ipV6(), fc.stringMatching(/^[a-z0-9]{1,20}$/).filter((s) => !/^[\d]+$/.test(s)))
    fc.assert(
      fc.property(fc.uniqueArray(entry, { maxLength: 8 }), (entries) => {
        const blacklist = new Blacklist(entries)
        for (const e of entries) blacklist.remove(e)
        expect(blacklist.entries()).toEqual({ peers: [], ips: [] })
        for (const e of entries) expect(blacklist.isBlocked({ peerId: e, ip: e })).toBe(false)
      }),
    )
  })
})
