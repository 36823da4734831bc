import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse.js'
import { nodeConfigSchema } from '../../src/config/schema.js'
import { ConfigError } from '../../src/errors.js'
import type { TransportFactory } from '../../src/transport/types.js'

/** Parse expecting failure; returns the ConfigError. */
function configError(input: unknown): ConfigError {
  try {
    parseConfig(input)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected parseConfig to throw')
}

const fakeTransport: TransportFactory = () => {
  throw new Error('not used')
}

describe('parseConfig', () => {
  it('fills every default from just a network name', () => {
    expect(parseConfig({ networkName: 'test' })).toEqual({
      networkName: 'test',
      role: 'node',
      transports: [],
      discovery: [],
      autoConnect: { rate: 10, burst: 20, maxAddresses: 2, maxPending: 16, yieldDelay: 1_000 },
      services: [],
      identity: {},
      auth: { mode: 'peer-id', ca: [] },
      maxMessageSize: 16 * 1024 * 1024,
      connection: {
        maxConnections: 512,
        maxInboundPerIp: 16,
        ipv6PrefixLength: 64,
        maxInboundPerSubnet: 64,
        ipv4SubnetPrefixLength: 24,
        ipv6SubnetPrefixLength: 48,
        maxPendingInbound: 64,
        pruneGracePeriod: 10_000,
        protectedPeers: [],
        maxProtocolErrors: 32,
        idleTimeout: 30_000,
        keepAliveInterval: 10_000,
        handshakeTimeout: 10_000,
        dialTimeout: 10_000,
        dialStagger: 250,
        transportPreference: ['tcp', 'quic'],
        fallbackDelay: 250,
        traversalDelay: 500,
        maxInboundStreams: 256,
        requestTimeout: 30_000,
        pathTimeout: 4_000,
        maxPendingMessageBytes: 64 * 1024 * 1024,
        maxPendingMessageBytesTotal: 256 * 1024 * 1024,
        messageTimeout: 10_000,
        minMessageRate: 1024,
      },
      keep: [],
      retry: { initialDelay: 500, maxDelay: 15_000, multiplier: 1.5, jitter: true, maxElapsed: 30_000, maxAttempts: 10 },
      blacklist: { peers: [], ips: [] },
      reachability: { check: 'demote', timeout: 3_000, maxAddresses: 3, period: 60_000, maxPerSecond: 5 },
      bootstrap: {
        contacts: [],
        cache: true,
        cacheSize: 200,
        cacheAddressesPerPeer: 4,
        cachePeersPerIp: 4,
        onStart: false,
        parallelism: 10,
        timeout: 10_000,
        discoveryWait: 1_000,
        maxFailures: 3,
        revalidateAfter: 24 * 3600 * 1000,
      },
      logLevel: 'warn',
      reportInterval: 10_000,
    })
  })

  it('fills defaults inside partially given sections', () => {
    const config = parseConfig({ networkName: 'n', connection: { idleTimeout: 0 }, retry: { jitter: false } })
    expect(config.connection.idleTimeout).toBe(0)
    expect(config.connection.maxConnections).toBe(512)
    expect(config.retry).toMatchObject({ jitter: false, maxAttempts: 10 })
  })

  it('keeps valid values as given', () => {
    const config = parseConfig({
      networkName: 'n',
      role: 'client',
      transports: [fakeTransport],
      listen: ['tcp://0.0.0.0:4001', 'quic://[::]:0'],
      identity: { keyFile: '/tmp/key.pem' },
      maxMessageSize: 1024,
      blacklist: { peers: ['abc123'], ips: ['10.0.0.0/8', '2001:db8::1'] },
      logLevel: 'silent',
    })
    expect(config.transports).toEqual([fakeTransport])
    expect(config.listen).toEqual(['tcp://0.0.0.0:4001', 'quic://[::]:0'])
    expect(config.blacklist.ips).toEqual(['10.0.0.0/8', '2001:db8::1'])
  })

  it('reports the path and zod message of a bad number', () => {
    const error = configError({ networkName: 'n', connection: { idleTimeout: -1 } })
    expect(error.code).toBe('ERR_CONFIG')
    expect(error.message).toContain('connection.idleTimeout: Too small: expected number to be >=0')
    expect(error.issues).toEqual([{ path: 'connection.idleTimeout', message: 'Too small: expected number to be >=0' }])
  })

  it('lists every bad field at once', () => {
    const error = configError({
      networkName: '',
      role: 'server',
      transports: ['tcp'],
      listen: ['localhost:4001'],
      maxMessageSize: 2 * 1024 ** 3,
      connection: { maxInboundStreams: 8 },
      retry: { multiplier: 0.5 },
      blacklist: { ips: ['10.0.0.0/33'], peers: ['has space'] },
      logLevel: 'verbose',
    })
    const paths = error.issues.map((issue) => issue.path)
    expect(paths).toEqual(
      expect.arrayContaining([
        'networkName',
        'role',
        'transports.0',
        'listen.0',
        'maxMessageSize',
        'connection.maxInboundStreams',
        'retry.multiplier',
        'blacklist.ips.0',
        'blacklist.peers.0',
        'logLevel',
      ]),
    )
    for (const issue of error.issues) expect(error.message).toContain(`${issue.path}: ${issue.message}`)
    expect(error.message).toContain('transports.0: must be a transport plugin such as tcp()')
  })

  it('requires networkName', () => {
    expect(configError({}).issues.map((i) => i.path)).toEqual(['networkName'])
  })

  it('rejects a non-object without a path prefix', () => {
    const error = configError(null)
    expect(error.issues).toEqual([{ path: '', message: expect.stringContaining('expected object') }])
  })

  it('names unknown keys, top level and nested, so typos are caught', () => {
    const error = configError({ networkName: 'n', netwrkName: 'x', connection: { idleTimeOut: 5 } })
    expect(error.issues).toEqual([
      { path: 'connection.idleTimeOut', message: 'Unknown option' },
      { path: 'netwrkName', message: 'Unknown option' },
    ])
  })

  describe("auth mode 'ca'", () => {
    it('requires ca, certFile and keyFile, each at its own path', () => {
      const error = configError({ networkName: 'n', auth: { mode: 'ca' } })
      expect(error.issues.map((i) => i.path).sort()).toEqual(['auth.ca', 'auth.certFile', 'auth.keyFile'])
    })

    it('names only the missing field', () => {
      const error = configError({ networkName: 'n', auth: { mode: 'ca', ca: ['ca.pem'], certFile: 'cert.pem' } })
      expect(error.issues).toEqual([{ path: 'auth.keyFile', message: "auth mode 'ca' needs keyFile" }])
    })

    it('accepts a complete ca setup', () => {
      const auth = { mode: 'ca', ca: ['ca.pem'], certFile: 'cert.pem', keyFile: 'key.pem' } as const
      expect(parseConfig({ networkName: 'n', auth }).auth).toEqual(auth)
    })

    it('does not apply to other modes', () => {
      expect(parseConfig({ networkName: 'n', auth: { mode: 'none' } }).auth).toEqual({ mode: 'none', ca: [] })
    })
  })

  describe('connection timing', () => {
    it('requires keepAliveInterval < idleTimeout when both are on', () => {
      const error = configError({ networkName: 'n', connection: { idleTimeout: 5000, keepAliveInterval: 5000 } })
      expect(error.issues.map((i) => i.path)).toEqual(['connection.keepAliveInterval'])
    })

    it('allows either to be off', () => {
      expect(() => parseConfig({ networkName: 'n', connection: { idleTimeout: 0, keepAliveInterval: 60_000 } })).not.toThrow()
      expect(() => parseConfig({ networkName: 'n', connection: { idleTimeout: 1000, keepAliveInterval: 0 } })).not.toThrow()
    })

    it('rejects non-integer times', () => {
      expect(configError({ networkName: 'n', connection: { dialTimeout: 1.5 } }).issues[0]?.path).toBe('connection.dialTimeout')
    })
  })

  it('requires retry.maxDelay >= initialDelay', () => {
    const error = configError({ networkName: 'n', retry: { initialDelay: 2000, maxDelay: 1000 } })
    expect(error.issues.map((i) => i.path)).toEqual(['retry.maxDelay'])
  })

  it('rejects a peer id in blacklist.ips and an IP in blacklist.peers', () => {
    const error = configError({ networkName: 'n', blacklist: { ips: ['some-peer'], peers: ['10.0.0.1'] } })
    expect(error.issues.map((i) => i.path).sort()).toEqual(['blacklist.ips.0', 'blacklist.peers.0'])
  })

  it('exposes the schema for composition', () => {
    expect(nodeConfigSchema.safeParse({ networkName: 'n' }).success).toBe(true)
  })
})
