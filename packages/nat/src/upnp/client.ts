import { isIPv4 } from 'node:net'
import type { CB, Client, Ssdp } from 'nat-upnp'
import { GatewayDevice } from './device.js'
import { type GatewayLocation, searchGateway } from './discovery.js'
import { UpnpError, asUpnpError } from './errors.js'
import { child, isElement, text } from './xml.js'

/** nat-upnp's client with the SSDP client it creates (absent from its typings). */
type NatUpnpClient = Client & { readonly ssdp: Ssdp }

/** One port mapping to ask a gateway for. */
export interface MappingRequest {
  readonly protocol: 'tcp' | 'udp'
  readonly internalClient: string
  readonly internalPort: number
  readonly externalPort: number
  /** 0 asks for a permanent mapping. */
  readonly leaseSeconds: number
  readonly description: string
}

/** A mapping the gateway lists (GetGenericPortMappingEntry). */
export interface ListedMapping {
  readonly protocol: 'tcp' | 'udp'
  readonly externalPort: number
  readonly internalClient: string
  readonly internalPort: number
  readonly description: string
}

/**
 * nat-upnp's client behind a promise API that cannot hang, throw, or leak:
 * - discovery uses its SSDP client with our own deadline ({@link searchGateway});
 * - its high-level calls (`portMapping`, `portUnmapping`, `externalIp`) run
 *   against a {@link GatewayDevice} handed to it through `findGateway`, which
 *   bounds and hardens every request;
 * - calls run one at a time, each under an overall deadline, and whatever
 *   nat-upnp throws in a callback rejects the call instead of the process;
 * - its SSDP sockets get an error listener, and are closed as soon as the
 *   gateway is known, but never before they are bound (closing them earlier
 *   makes nat-upnp throw on the next tick).
 */
export class GatewayClient {
  private device: GatewayDevice | undefined
  private localAddress = ''
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false
  private ssdpClosed = false

  private constructor(
    private readonly client: NatUpnpClient,
    private readonly requestTimeout: number,
  ) {
    // Every call finds "the gateway" through here, instead of a fresh SSDP search and description fetch each time.
    const findGateway = (callback: (error: Error | null, device?: GatewayDevice, address?: string) => void): void => {
      if (this.device === undefined) callback(new UpnpError('no-gateway', 'no gateway chosen'))
      else callback(null, this.device, this.localAddress)
    }
    // nat-upnp's client only calls `run()` on the device it gets.
    client.findGateway = findGateway as unknown as Client['findGateway']
  }

  /** Load nat-upnp (only now: it is slow to load) and make a client. */
  static async create(requestTimeout: number): Promise<GatewayClient> {
    const natUpnp = (await import('nat-upnp')).default
    const client = natUpnp.createClient() as NatUpnpClient
    for (const socket of ssdpSockets(client.ssdp)) socket.on('error', () => {}) // nat-upnp listens only once
    // nat-upnp binds its SSDP sockets on the next tick: after this, close() is safe.
    await new Promise((resolve) => setImmediate(resolve))
    return new GatewayClient(client, requestTimeout)
  }

  /** The gateway in use, once chosen. */
  get gateway(): GatewayLocation | undefined {
    return this.device === undefined ? undefined : { location: this.device.location, localAddress: this.localAddress }
  }

  /** Search the LAN for a gateway (SSDP), within `timeout` ms. */
  discover(timeout: number, signal: AbortSignal): Promise<GatewayLocation> {
    if (this.ssdpClosed) return Promise.reject(new UpnpError('aborted', 'stopped'))
    return searchGateway(this.client.ssdp, { timeout, signal })
  }

  /** Talk to this gateway from now on. The SSDP sockets are closed: the calls need none. */
  use(gateway: GatewayLocation): void {
    this.device = new GatewayDevice(gateway.location, this.requestTimeout)
    this.localAddress = gateway.localAddress
    this.closeSsdp()
  }

  /** Read the description, and fail unless it offers a WAN connection service. */
  async describe(signal: AbortSignal): Promise<string> {
    const control = await this.operate<{ controlUrl: URL }>('reading the description', signal, (done) => {
      this.chosen().controlPoint().then(
        (point) => done(null, point),
        (error: Error) => done(error),
      )
    })
    return control.controlUrl.href
  }

  /** The gateway's external IPv4 address. */
  async externalIp(signal: AbortSignal): Promise<string> {
    const ip = await this.operate<string>('GetExternalIPAddress', signal, (done) => this.client.externalIp(done))
    if (typeof ip !== 'string' || !isIPv4(ip) || ip === '0.0.0.0') {
      throw new UpnpError('malformed', `the gateway reports no usable external IPv4 address (${JSON.stringify(ip ?? null)})`)
    }
    return ip
  }

  /** Add (or refresh: the same request again) a port mapping. */
  async addMapping(request: MappingRequest, signal: AbortSignal): Promise<void> {
    await this.operate('AddPortMapping', signal, (done) =>
      this.client.portMapping(
        {
          public: { port: request.externalPort },
          private: { port: request.internalPort, host: request.internalClient },
          protocol: request.protocol,
          description: request.description,
          ttl: request.leaseSeconds,
        },
        done,
      ),
    )
  }

  /** Remove a port mapping. */
  async deleteMapping(mapping: { readonly protocol: 'tcp' | 'udp'; readonly externalPort: number }, signal: AbortSignal): Promise<void> {
    await this.operate('DeletePortMapping', signal, (done) =>
      this.client.portUnmapping({ public: { port: mapping.externalPort }, protocol: mapping.protocol }, done),
    )
  }

  /**
   * The gateway's mapping of one external port (GetSpecificPortMappingEntry),
   * or undefined when it holds none (fault 714 NoSuchEntryInArray): the cheap
   * way to tell a gateway that forgot our mappings (rebooted).
   */
  async getMapping(mapping: { readonly protocol: 'tcp' | 'udp'; readonly externalPort: number }, signal: AbortSignal): Promise<{ internalClient: string; internalPort: number } | undefined> {
    let body: unknown
    try {
      body = await this.operate<unknown>('GetSpecificPortMappingEntry', signal, (done) =>
        this.chosen().run(
          'GetSpecificPortMappingEntry',
          [
            ['NewRemoteHost', ''],
            ['NewExternalPort', mapping.externalPort],
            ['NewProtocol', mapping.protocol.toUpperCase()],
          ],
          done,
        ),
      )
    } catch (error) {
      if (asUpnpError(error).faultCode === NO_SUCH_ENTRY) return undefined
      throw error
    }
    const response = isElement(body) ? child(body, 'GetSpecificPortMappingEntryResponse') : undefined
    if (!isElement(response)) throw new UpnpError('malformed', 'the gateway answered GetSpecificPortMappingEntry without its response')
    const internalClient = text(child(response, 'NewInternalClient'))?.trim() ?? ''
    const internalPort = Number(text(child(response, 'NewInternalPort'))?.trim())
    if (!isIPv4(internalClient) || !isPort(internalPort)) throw new UpnpError('malformed', 'the gateway answered GetSpecificPortMappingEntry with no internal client or port')
    return { internalClient, internalPort }
  }

  /**
   * The gateway's port mappings, at most `max` of them (GetGenericPortMappingEntry
   * by index until the gateway says the index is past the end). Entries that do
   * not parse are skipped; a failure ends the list where it is.
   */
  async listMappings(signal: AbortSignal, max: number): Promise<ListedMapping[]> {
    const listed: ListedMapping[] = []
    for (let index = 0; index < max; index++) {
      let body: unknown
      try {
        body = await this.operate<unknown>('GetGenericPortMappingEntry', signal, (done) =>
          this.chosen().run('GetGenericPortMappingEntry', [['NewPortMappingIndex', index]], done),
        )
      } catch (error) {
        if (asUpnpError(error).reason === 'aborted') throw error
        break // 713 SpecifiedArrayIndexInvalid: the end of the list (or a gateway that cannot list)
      }
      const entry = listedMapping(body)
      if (entry !== undefined) listed.push(entry)
    }
    return listed
  }

  /** Stop: no more calls; the SSDP sockets are closed. Safe to call twice. */
  close(): void {
    this.closed = true
    this.closeSsdp()
  }

  private closeSsdp(): void {
    if (this.ssdpClosed) return
    this.ssdpClosed = true
    try {
      this.client.close()
    } catch {
      // a socket nat-upnp failed to bind is already closed
    }
  }

  private chosen(): GatewayDevice {
    if (this.device === undefined) throw new UpnpError('no-gateway', 'no gateway chosen')
    return this.device
  }

  /**
   * Run one nat-upnp call after the previous one. The deadline covers a
   * description fetch and a SOAP request, and any callback nat-upnp forgets.
   */
  private operate<T>(what: string, signal: AbortSignal, start: (done: CB<T>) => void): Promise<T> {
    const run = (): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const fail = (error: unknown): void => reject(asUpnpError(error))
        const deadline = 2 * this.requestTimeout + 500
        const timer = setTimeout(() => fail(new UpnpError('timeout', `${what} did not finish within ${deadline} ms`)), deadline)
        const done: CB<T> = (error, value) => {
          clearTimeout(timer)
          if (error) fail(error)
          else resolve(value as T)
        }
        try {
          if (signal.aborted || this.closed) throw new UpnpError('aborted', 'stopped')
          const device = this.chosen()
          device.signal = signal
          device.onCallbackError = (error) => {
            clearTimeout(timer)
            fail(error)
          }
          start(done)
        } catch (error) {
          clearTimeout(timer)
          fail(error)
        }
      })
    const result = this.queue.then(run, run)
    this.queue = result.catch(() => {})
    return result
  }
}

/** One GetGenericPortMappingEntryResponse as a {@link ListedMapping}; undefined when a field is missing or odd. */
function listedMapping(body: unknown): ListedMapping | undefined {
  if (!isElement(body)) return undefined
  const response = child(body, 'GetGenericPortMappingEntryResponse')
  if (!isElement(response)) return undefined
  const field = (name: string): string => text(child(response, name))?.trim() ?? ''
  const protocol = field('NewProtocol').toLowerCase()
  const externalPort = Number(field('NewExternalPort'))
  const internalPort = Number(field('NewInternalPort'))
  const internalClient = field('NewInternalClient')
  if ((protocol !== 'tcp' && protocol !== 'udp') || !isPort(externalPort) || !isPort(internalPort) || !isIPv4(internalClient)) return undefined
  return { protocol, externalPort, internalPort, internalClient, description: field('NewPortMappingDescription') }
}

/** UPnP fault 714 NoSuchEntryInArray: the gateway holds no such mapping. */
const NO_SUCH_ENTRY = 714

function isPort(value: number): boolean {
  return Number.isInteger(value) && value > 0 && value < 65_536
}

/** The sockets nat-upnp's SSDP client opened (one per interface address). */
function ssdpSockets(ssdp: Ssdp): Array<{ on(event: 'error', listener: () => void): unknown }> {
  const sockets: unknown = (ssdp as Ssdp & { sockets?: unknown }).sockets
  if (!Array.isArray(sockets)) return []
  return sockets.filter((socket): socket is { on(event: 'error', listener: () => void): unknown } => typeof socket?.on === 'function')
}
