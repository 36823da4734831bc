import { mkdtempSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, type CrustNode, type ServiceEvent } from '@crust/core'
import { pathProxy } from '@crust/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { UpnpError, UpnpService, natStatus, upnp } from '../src/index.js'
import { backoffDelays, externalPortCandidates, renewDelay } from '../src/upnp/schedule.js'
import { aliveLocation } from '../src/upnp/service.js'
import { mappingTargets } from '../src/upnp/targets.js'
import { startNode } from './helpers.js'

/** How the fake gateway answers one request. */
interface Answer {
  readonly status?: number
  readonly body?: string
  /** Wait this long before answering (ms). */
  readonly delay?: number
  /** Never answer. */
  readonly hang?: boolean
  /** Promise more bytes than are sent, then close the connection. */
  readonly cut?: boolean
}
type Behaviour = Answer | ((request: GatewayRequest) => Answer)

interface GatewayRequest {
  readonly path: string
  /** The SOAP action, for control requests. */
  readonly action?: string
  /** SOAP arguments by name. */
  readonly args: Readonly<Record<string, string>>
}

const SERVICE = 'urn:schemas-upnp-org:service:WANIPConnection:1'
const EXTERNAL_IP = '198.51.100.7'

/** A description shaped like miniupnpd's: the WAN service two devices deep. */
const DESCRIPTION = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList><service><serviceType>${SERVICE}</serviceType><controlURL>/ctl/IPConn</controlURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`

function envelope(inner: string): string {
  return `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>${inner}</s:Body></s:Envelope>`
}

function success(action: string, inner = ''): Answer {
  return { body: envelope(`<u:${action}Response xmlns:u="${SERVICE}">${inner}</u:${action}Response>`) }
}

function fault(code: number, description: string): Answer {
  return {
    status: 500,
    body: envelope(
      `<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault>`,
    ),
  }
}

const honest: Record<string, Behaviour> = {
  GetExternalIPAddress: success('GetExternalIPAddress', `<NewExternalIPAddress>${EXTERNAL_IP}</NewExternalIPAddress>`),
  AddPortMapping: success('AddPortMapping'),
  DeletePortMapping: success('DeletePortMapping'),
}

/** A UPnP gateway's HTTP side on loopback whose answers each test chooses; it records every request. */
class FakeGateway {
  readonly requests: GatewayRequest[] = []
  private constructor(
    private readonly server: Server,
    private readonly description: Behaviour,
    private readonly actions: Record<string, Behaviour>,
  ) {}

  static async start(options: { description?: Behaviour; actions?: Record<string, Behaviour> } = {}): Promise<FakeGateway> {
    let gateway: FakeGateway | undefined
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString()))
      req.on('end', () => gateway?.answer(req.url ?? '', String(req.headers.soapaction ?? ''), body, res))
    })
    gateway = new FakeGateway(server, options.description ?? { body: DESCRIPTION }, { ...honest, ...options.actions })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return gateway
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/rootDesc.xml`
  }

  /** Requests for one SOAP action. */
  calls(action: string): GatewayRequest[] {
    return this.requests.filter((request) => request.action === action)
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private answer(path: string, soapAction: string, body: string, res: import('node:http').ServerResponse): void {
    const action = /#(\w+)"?$/.exec(soapAction)?.[1]
    const args = Object.fromEntries([...body.matchAll(/<(New\w+)>([^<]*)<\/\1>/g)].map((m) => [m[1] as string, m[2] as string]))
    const request: GatewayRequest = { path, action, args }
    this.requests.push(request)
    const behaviour = action === undefined ? this.description : (this.actions[action] ?? { status: 401, body: 'no' })
    const answer = typeof behaviour === 'function' ? behaviour(request) : behaviour
    if (answer.hang) return
    setTimeout(() => {
      const text = answer.body ?? ''
      if (answer.cut) {
        res.writeHead(answer.status ?? 200, { 'Content-Length': String(Buffer.byteLength(text) + 100) })
        res.write(text, () => setTimeout(() => res.socket?.destroy(), 20))
        return
      }
      res.writeHead(answer.status ?? 200, { 'Content-Type': 'text/xml' })
      res.end(text)
    }, answer.delay ?? 0)
  }
}

const gateways: FakeGateway[] = []
async function fakeGateway(options?: Parameters<typeof FakeGateway.start>[0]): Promise<FakeGateway> {
  const gateway = await FakeGateway.start(options)
  gateways.push(gateway)
  return gateway
}
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()))
})

function serviceOf(node: CrustNode): UpnpService {
  const service = node.runningServices.find((s) => s.id === 'upnp')
  if (!(service instanceof UpnpService)) throw new Error('upnp service not running')
  return service
}

function collectEvents(node: CrustNode): ServiceEvent[] {
  const events: ServiceEvent[] = []
  node.on('service:event', (event) => {
    if (event.service === 'upnp') events.push(event)
  })
  return events
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Fast settings for a gateway on loopback. */
const quick = { discoveryTimeout: 100, requestTimeout: 300, retryDelay: 20 } as const

describe('upnp() options', () => {
  it('rejects bad options with a ConfigError naming the field', () => {
    expect(() => upnp({ leaseSeconds: 1 })).toThrow(ConfigError)
    expect(() => upnp({ leaseSeconds: 1 })).toThrow(/upnp\.leaseSeconds/)
    expect(() => upnp({ discoveryTimeout: -5 })).toThrow(/upnp\.discoveryTimeout/)
    expect(() => upnp({ gateway: 'ftp://192.168.1.1/desc.xml' })).toThrow(/upnp\.gateway: must be an http:\/\/ URL/)
    expect(() => upnp({ externalPort: 70_000 })).toThrow(/upnp\.externalPort/)
    expect(() => upnp({ description: 'caf\u00e9' })).toThrow(/upnp\.description: must be printable ASCII/)
    expect(() => upnp({ attempts: 0 })).toThrow(/upnp\.attempts/)
    expect(() => upnp({ lease: 60 } as never)).toThrow(/lease/)
    expect(() => upnp()).not.toThrow()
  })
})

describe('SSDP announcements', () => {
  it('reads the LOCATION of an ssdp:alive NOTIFY, and nothing else', () => {
    const notify = (nts: string, location = 'http://10.1.0.1:5000/rootDesc.xml'): string =>
      `NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=60\r\nLOCATION: ${location}\r\nNT: upnp:rootdevice\r\nNTS: ${nts}\r\n\r\n`
    expect(aliveLocation(notify('ssdp:alive'))?.href).toBe('http://10.1.0.1:5000/rootDesc.xml')
    expect(aliveLocation(notify('ssdp:byebye'))).toBeUndefined()
    expect(aliveLocation(notify('ssdp:alive', 'file:///etc/passwd'))).toBeUndefined()
    expect(aliveLocation(notify('ssdp:alive', 'not a url'))).toBeUndefined()
    expect(aliveLocation(notify('ssdp:alive').replace('NOTIFY *', 'M-SEARCH *'))).toBeUndefined()
    expect(aliveLocation('')).toBeUndefined()
  })
})

describe('upnp scheduling and targets', () => {
  it('renews at half the lease, never for a permanent mapping, and backs off by doubling', () => {
    expect(renewDelay(3600)).toBe(1_800_000)
    expect(renewDelay(6)).toBe(3000)
    expect(renewDelay(0)).toBeUndefined()
    expect(backoffDelays(3, 250)).toEqual([250, 500])
    expect(backoffDelays(1, 250)).toEqual([])
  })

  it('tries the preferred external port first, then distinct random ones in range', () => {
    let n = 0
    const sequence = [0, 0, 0.5, 0.999999]
    const ports = externalPortCandidates(4001, () => sequence[n++ % sequence.length] as number)
    expect(ports).toEqual([4001, 1024, 1024 + Math.floor(0.5 * (65_536 - 1024))])
    for (const port of externalPortCandidates(4001)) expect(port).toBeGreaterThanOrEqual(1024)
    expect(externalPortCandidates(4001, () => 0.5)).toHaveLength(2) // a broken random source cannot loop forever
  })

  it('maps TCP as tcp and QUIC as udp, once each, only where the gateway reaches us', () => {
    const listening = [
      'tcp://127.0.0.1:4001',
      'tcp://10.1.0.2:4001',
      'tcp://[2001:db8::2]:4001',
      'quic://127.0.0.1:4002',
      'quic://10.1.0.2:4002',
      'quic://10.1.0.2:4002',
      'tcp://192.168.7.2:5000',
      'ws://10.1.0.2:8080',
    ]
    expect(mappingTargets(listening, '10.1.0.2')).toEqual([
      { transport: 'tcp', protocol: 'tcp', host: '10.1.0.2', port: 4001 },
      { transport: 'quic', protocol: 'udp', host: '10.1.0.2', port: 4002 },
    ])
    expect(mappingTargets(listening, '10.9.9.9')).toEqual([])
  })
})

describe('upnp() against a gateway on loopback', () => {
  it('maps TCP and UDP, publishes the addresses, renews at half the lease, and removes the mappings on stop', async () => {
    const gateway = await fakeGateway()
    const node = await startNode({ services: [upnp({ ...quick, gateway: gateway.url, leaseSeconds: 2, description: 'crust test' })] })
    const events = collectEvents(node)
    const [tcpPort, quicPort] = ['tcp', 'quic'].map((t) => Number(node.addresses.find((a) => a.startsWith(`${t}://127.0.0.1`))?.split(':').at(-1)))

    // start() waited for the first mapping round: the status and addresses are there at once.
    expect(natStatus(node.nat).upnp).toMatchObject({
      state: 'mapped',
      externalIp: EXTERNAL_IP,
      gateway: gateway.url.replace('/rootDesc.xml', '/ctl/IPConn'),
      mappings: [
        { protocol: 'tcp', internalPort: tcpPort, externalPort: tcpPort, address: `tcp://${EXTERNAL_IP}:${tcpPort}` },
        { protocol: 'udp', internalPort: quicPort, externalPort: quicPort, address: `quic://${EXTERNAL_IP}:${quicPort}` },
      ],
    })
    expect(node.addresses).toEqual(expect.arrayContaining([`tcp://${EXTERNAL_IP}:${tcpPort}`, `quic://${EXTERNAL_IP}:${quicPort}`]))
    expect(gateway.calls('AddPortMapping').map((call) => call.args)).toEqual([
      expect.objectContaining({ NewProtocol: 'TCP', NewExternalPort: String(tcpPort), NewInternalPort: String(tcpPort), NewInternalClient: '127.0.0.1', NewLeaseDuration: '2', NewPortMappingDescription: 'crust test' }),
      expect.objectContaining({ NewProtocol: 'UDP', NewExternalPort: String(quicPort), NewInternalPort: String(quicPort), NewInternalClient: '127.0.0.1' }),
    ])
    // The description is read once, not before every action as nat-upnp does.
    expect(gateway.requests.filter((request) => request.action === undefined)).toHaveLength(1)

    await until(() => events.some((event) => event.type === 'renewed'), 3000)
    expect(gateway.calls('AddPortMapping')).toHaveLength(4)

    await node.stop()
    expect(gateway.calls('DeletePortMapping').map((call) => [call.args.NewProtocol, call.args.NewExternalPort])).toEqual([
      ['TCP', String(tcpPort)],
      ['UDP', String(quicPort)],
    ])
    expect(events.at(-1)).toMatchObject({ type: 'removed', message: expect.stringContaining('removed 2 of 2') })
    expect(node.addresses.some((address) => address.includes(EXTERNAL_IP))).toBe(false)
  })

  it('waits for a slow gateway that answers within the request deadline', async () => {
    const slow = (answer: Behaviour): Answer => ({ ...(answer as Answer), delay: 150 })
    const gateway = await fakeGateway({
      description: slow({ body: DESCRIPTION }),
      actions: Object.fromEntries(Object.entries(honest).map(([action, answer]) => [action, slow(answer)])),
    })
    const node = await startNode({ services: [upnp({ gateway: gateway.url, requestTimeout: 1000 })] })
    expect(natStatus(node.nat).upnp.state).toBe('mapped')
    // description, external IP, the mapping list (one request: this fake lists nothing), two mappings: no retries
    expect(gateway.requests).toHaveLength(5)
  })

  it('moves to another external port when the preferred one is taken (718) and asks for a permanent mapping when told to (725)', async () => {
    const gateway = await fakeGateway({
      actions: {
        AddPortMapping: (request) => {
          if (request.args.NewExternalPort === '40000') return fault(718, 'ConflictInMappingEntry')
          if (request.args.NewLeaseDuration !== '0') return fault(725, 'OnlyPermanentLeasesSupported')
          return success('AddPortMapping')
        },
      },
    })
    const node = await startNode({ services: [upnp({ ...quick, gateway: gateway.url, externalPort: 40000 })] })
    const mappings = natStatus(node.nat).upnp.mappings
    expect(natStatus(node.nat).upnp.state).toBe('mapped')
    expect(mappings).toHaveLength(2)
    for (const mapping of mappings) expect(mapping.externalPort).not.toBe(40000)
    expect(gateway.calls('AddPortMapping').at(-1)?.args.NewLeaseDuration).toBe('0')
  })
})

describe('upnp() across restarts and gateway reboots', () => {
  /** A gateway that keeps its mappings (listing, looking up, adding, deleting them) like miniupnpd. */
  function statefulGateway(): { actions: Record<string, Behaviour>; table: Map<string, Record<string, string>> } {
    const table = new Map<string, Record<string, string>>()
    const key = (args: Readonly<Record<string, string>>): string => `${args.NewProtocol}/${args.NewExternalPort}`
    const entry = (m: Record<string, string>): string =>
      ['NewRemoteHost', 'NewExternalPort', 'NewProtocol', 'NewInternalPort', 'NewInternalClient', 'NewEnabled', 'NewPortMappingDescription', 'NewLeaseDuration']
        .map((name) => `<${name}>${m[name] ?? (name === 'NewEnabled' ? '1' : '')}</${name}>`)
        .join('')
    return {
      table,
      actions: {
        AddPortMapping: (request) => {
          table.set(key(request.args), { ...request.args })
          return success('AddPortMapping')
        },
        DeletePortMapping: (request) => (table.delete(key(request.args)) ? success('DeletePortMapping') : fault(714, 'NoSuchEntryInArray')),
        GetSpecificPortMappingEntry: (request) => {
          const found = table.get(key(request.args))
          return found === undefined ? fault(714, 'NoSuchEntryInArray') : success('GetSpecificPortMappingEntry', entry(found))
        },
        GetGenericPortMappingEntry: (request) => {
          const found = [...table.values()][Number(request.args.NewPortMappingIndex)]
          return found === undefined ? fault(713, 'SpecifiedArrayIndexInvalid') : success('GetGenericPortMappingEntry', entry(found))
        },
      },
    }
  }

  it("a restarted node (same key, new local ports) removes its previous run's mappings and asks for their external ports again; others' stay", async () => {
    const { actions, table } = statefulGateway()
    const gateway = await fakeGateway({ actions })
    const identity = { keyFile: join(mkdtempSync(join(tmpdir(), 'crust-upnp-key-')), 'node.key') }
    const first = await startNode({ identity, services: [upnp({ ...quick, gateway: gateway.url })] })
    const before = natStatus(first.nat).upnp.mappings
    expect(before).toHaveLength(2)
    // The first run dies without removing anything (as if killed): put back what its stop removed.
    const leftover = [...table]
    await first.stop()
    for (const [k, v] of leftover) table.set(k, v)
    table.set('TCP/40000', { NewProtocol: 'TCP', NewExternalPort: '40000', NewInternalPort: '40000', NewInternalClient: '127.0.0.1', NewPortMappingDescription: 'another app' })

    const second = await startNode({ identity, services: [upnp({ ...quick, gateway: gateway.url })] })
    expect(second.peerId).toBe(first.peerId)
    const after = natStatus(second.nat).upnp.mappings
    for (const protocol of ['tcp', 'udp'] as const) {
      const old = before.find((m) => m.protocol === protocol)
      const now = after.find((m) => m.protocol === protocol)
      expect(now?.externalPort).toBe(old?.externalPort) // the address its peers know
      expect(now?.internalPort).not.toBe(old?.internalPort) // on the new run's port
    }
    expect([...table.keys()].sort()).toEqual([...before.map((m) => `${m.protocol.toUpperCase()}/${m.externalPort}`), 'TCP/40000'].sort())
    expect(table.get('TCP/40000')?.NewPortMappingDescription).toBe('another app')
  })

  it('maps again when the gateway forgets the mappings (reboot), and withdraws the addresses while it is silent', async () => {
    const { actions, table } = statefulGateway()
    let silent = false
    const lookup = actions.GetSpecificPortMappingEntry as (request: GatewayRequest) => Answer
    const gateway = await fakeGateway({ actions: { ...actions, GetSpecificPortMappingEntry: (request) => (silent ? { hang: true } : lookup(request)) } })
    const node = await startNode({ services: [upnp({ ...quick, attempts: 1, gateway: gateway.url, checkInterval: 500 })] })
    const events = collectEvents(node)
    const mapped = natStatus(node.nat).upnp.mappings.map((m) => m.address)
    table.clear() // rebooted
    await until(() => events.some((event) => event.type === 'mapped') && table.size === 2, 3000)
    expect(node.addresses).toEqual(expect.arrayContaining(mapped))

    silent = true
    await until(() => events.some((event) => event.type === 'unavailable'), 5000)
    expect(natStatus(node.nat).upnp.state).toBe('unavailable')
    expect(node.addresses.some((address) => address.includes(EXTERNAL_IP))).toBe(false)
    const mappedBefore = events.filter((event) => event.type === 'mapped').length
    silent = false
    await until(() => events.filter((event) => event.type === 'mapped').length > mappedBefore, 3000)
    expect(natStatus(node.nat).upnp.state).toBe('mapped')
    expect(node.addresses).toEqual(expect.arrayContaining(mapped))
  })

  it('checks the gateway as soon as a path goes silent (a rebooted router drops every NAT state), not at the next checkInterval', async () => {
    const { actions, table } = statefulGateway()
    const gateway = await fakeGateway({ actions })
    const node = await startNode({ connection: { pathTimeout: 1_000 }, services: [upnp({ ...quick, gateway: gateway.url, checkInterval: 60_000 })] })
    const events = collectEvents(node)
    const peer = await startNode()
    peer.handle(() => undefined)
    const proxy = await pathProxy('tcp', Number(new URL(peer.addresses.find((a) => a.startsWith('tcp://')) ?? '').port))
    try {
      await node.connect({ peerId: peer.peerId, addresses: [`tcp://127.0.0.1:${proxy.port}`] })
      table.clear() // the router rebooted: its mappings are gone, and so is every path through it
      proxy.blackhole()
      const silentAt = Date.now()
      const checksBefore = gateway.calls('GetSpecificPortMappingEntry').length
      await node.send(peer.peerId, Buffer.from('anyone there?')).catch(() => {})
      await until(() => events.some((event) => event.type === 'mapped') && table.size === 2, 5_000)
      expect(gateway.calls('GetSpecificPortMappingEntry').length).toBeGreaterThan(checksBefore)
      expect(Date.now() - silentAt).toBeLessThan(5_000)
    } finally {
      await proxy.close()
    }
  })
})

describe('upnp() with nothing to map', () => {
  it('does not look for a gateway when the node listens on loopback only, or is a client', async () => {
    const startedAt = Date.now()
    const local = await startNode({ services: [upnp()] })
    expect(Date.now() - startedAt).toBeLessThan(1000) // no 2 s SSDP wait
    expect(natStatus(local.nat).upnp).toEqual({ state: 'unavailable', mappings: [], reason: 'nothing to map: the node listens on no IPv4 TCP or QUIC address beyond loopback' })
    const client = await startNode({ role: 'client', services: [upnp()] })
    expect(natStatus(client.nat).upnp).toMatchObject({ state: 'unavailable', reason: 'nothing to map: a client node accepts no inbound connections' })
  })
})

describe('upnp() against a gateway that answers garbage', () => {
  const unhandled: unknown[] = []
  const record = (error: unknown): void => {
    unhandled.push(error)
  }
  process.on('unhandledRejection', record)
  process.on('uncaughtException', record)
  afterEach(() => {
    expect(unhandled).toEqual([])
  })

  const cases: Array<{ name: string; description?: Behaviour; actions?: Record<string, Behaviour>; reason: string; state: string; tries: number }> = [
    { name: 'an empty description', description: { body: '' }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'a description that is not XML', description: { body: '<<<html>oops' }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'a description with trailing garbage', description: { body: `${DESCRIPTION}junk` }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'a truncated description', description: { body: DESCRIPTION.slice(0, 300) }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'a description cut off mid-answer', description: { body: DESCRIPTION.slice(0, 300), cut: true }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'a description without a WAN service', description: { body: '<root><device><deviceType>x</deviceType></device></root>' }, reason: 'no-service', state: 'refused', tries: 1 },
    { name: 'HTTP 500 for the description', description: { status: 500, body: 'Internal Server Error' }, reason: 'http-status', state: 'refused', tries: 3 },
    { name: 'SOAP garbage with HTTP 200', actions: { GetExternalIPAddress: { body: '<<garbage' } }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'an empty SOAP answer', actions: { GetExternalIPAddress: { body: '' } }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'SOAP without the expected response', actions: { GetExternalIPAddress: { body: envelope('<u:Other/>') } }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'an external IP that is not one', actions: { GetExternalIPAddress: success('GetExternalIPAddress', '<NewExternalIPAddress>home</NewExternalIPAddress>') }, reason: 'malformed', state: 'refused', tries: 3 },
    { name: 'HTTP 500 garbage for AddPortMapping', actions: { AddPortMapping: { status: 500, body: '<<<' } }, reason: 'http-status', state: 'refused', tries: 3 },
    { name: 'a UPnP fault for AddPortMapping', actions: { AddPortMapping: fault(606, 'Action not authorized') }, reason: 'fault', state: 'refused', tries: 1 },
    { name: 'no answer at all', description: { hang: true }, reason: 'timeout', state: 'unavailable', tries: 3 },
  ]

  for (const test of cases) {
    it(`gives a typed error, a bounded number of tries, and a prompt stop for ${test.name}`, async () => {
      const gateway = await fakeGateway({ description: test.description, actions: test.actions })
      const startedAt = Date.now()
      const node = await startNode({ services: [upnp({ ...quick, gateway: gateway.url, requestTimeout: 200, discoveryTimeout: 2000 })] })
      const service = serviceOf(node)
      expect(Date.now() - startedAt).toBeLessThan(2500)
      expect(service.lastError).toBeInstanceOf(UpnpError)
      expect(service.lastError).toMatchObject({ code: 'ERR_UPNP', reason: test.reason })
      expect(natStatus(node.nat).upnp).toMatchObject({ state: test.state, mappings: [], reason: service.lastError?.message })
      expect(node.addresses.some((address) => address.includes(EXTERNAL_IP))).toBe(false)

      // Bounded: the failing request was tried `tries` times (per mapping for AddPortMapping), then no more.
      const failing = test.actions === undefined ? gateway.requests.filter((r) => r.action === undefined) : gateway.calls(Object.keys(test.actions)[0] as string)
      const perMapping = test.actions?.AddPortMapping === undefined ? 1 : 2
      expect(failing).toHaveLength(test.tries * perMapping)
      const seen = gateway.requests.length
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(gateway.requests).toHaveLength(seen)

      const stopAt = Date.now()
      await node.stop()
      expect(Date.now() - stopAt).toBeLessThan(500)
    })
  }

  it('says once, in plain words, that the gateway cannot be reached when nothing listens there', async () => {
    const gateway = await fakeGateway()
    const url = gateway.url
    await gateways.splice(0)[0]?.close()
    const node = await startNode({ services: [upnp({ ...quick, gateway: url })] })
    const service = serviceOf(node)
    expect(service.lastError).toMatchObject({ reason: 'unreachable' })
    expect(natStatus(node.nat).upnp.state).toBe('unavailable')
    expect(natStatus(node.nat).upnp.reason).toMatch(/cannot reach the gateway at 127\.0\.0\.1:\d+: ECONNREFUSED/)
  })

  it('does not hold up node start beyond its bound, and a stop mid-request ends at once without further tries', async () => {
    const gateway = await fakeGateway({ description: { hang: true } })
    const events: ServiceEvent[] = []
    const startedAt = Date.now()
    const node = await startNode({ services: [upnp({ gateway: gateway.url, discoveryTimeout: 100, requestTimeout: 1000, attempts: 5 })] })
    node.on('service:event', (event) => events.push(event))
    // start() waited discoveryTimeout + requestTimeout at most; the round goes on in the background.
    expect(Date.now() - startedAt).toBeLessThan(1800)
    expect(natStatus(node.nat).upnp.state).toBe('unknown')
    const stopAt = Date.now()
    await node.stop()
    expect(Date.now() - stopAt).toBeLessThan(300)
    const seen = gateway.requests.length
    await new Promise((resolve) => setTimeout(resolve, 1200))
    expect(gateway.requests).toHaveLength(seen)
    expect(events.filter((event) => event.type === 'unavailable' || event.type === 'refused')).toEqual([])
  })
})
