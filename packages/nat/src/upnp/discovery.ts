import { createSocket } from 'node:dgram'
import type { EventEmitter } from 'node:events'
import { isIPv4 } from 'node:net'
import type { Ssdp } from 'nat-upnp'
import { errorMessage } from '@crust/core/plugin'
import { UpnpError } from './errors.js'

/** A gateway to talk to: its description URL, and our address on the link facing it. */
export interface GatewayLocation {
  /** The device description URL (SSDP `LOCATION`). */
  readonly location: URL
  /** Our IPv4 address towards the gateway: the internal client of our mappings. */
  readonly localAddress: string
}

const IGD = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1'

/**
 * Search for an Internet Gateway Device with nat-upnp's SSDP client, bounded
 * by `timeout` (our own timer: nat-upnp's `findGateway` leaves its timer and
 * search running when its caller gives up, and cannot be cancelled). The
 * M-SEARCH is repeated a few times within the timeout, as UDP may be lost.
 * Only IPv4 answers count. Rejects with a `no-gateway` {@link UpnpError}.
 */
export function searchGateway(ssdp: Ssdp, options: { readonly timeout: number; readonly signal: AbortSignal }): Promise<GatewayLocation> {
  return new Promise((resolve, reject) => {
    const searches: EventEmitter[] = []
    const timers: NodeJS.Timeout[] = []
    let settled = false
    const finish = (error: UpnpError | undefined, found?: GatewayLocation): void => {
      if (settled) return
      settled = true
      for (const timer of timers) clearTimeout(timer)
      options.signal.removeEventListener('abort', onAbort)
      // 'end' detaches the search from nat-upnp's SSDP client.
      for (const search of searches) search.emit('end')
      if (error !== undefined) reject(error)
      else if (found !== undefined) resolve(found)
    }
    const onAbort = (): void => finish(new UpnpError('aborted', 'stopped'))
    const onDevice = (headers: unknown, address: unknown): void => {
      const location = locationOf(headers)
      if (location === undefined || typeof address !== 'string' || !isIPv4(address)) return
      finish(undefined, { location, localAddress: address })
    }
    const send = (): void => {
      if (settled) return
      try {
        const search = ssdp.search(IGD)
        searches.push(search)
        search.on('device', onDevice)
      } catch (error) {
        // nat-upnp's search throws when its sockets are gone.
        finish(new UpnpError('no-gateway', `cannot send an SSDP search: ${errorMessage(error)}`, { cause: error }))
      }
    }
    if (options.signal.aborted) return onAbort()
    options.signal.addEventListener('abort', onAbort, { once: true })
    timers.push(setTimeout(() => finish(new UpnpError('no-gateway', `no UPnP gateway answered within ${options.timeout} ms`)), options.timeout))
    const resendEvery = Math.max(250, Math.floor(options.timeout / 3))
    for (let at = resendEvery; at < options.timeout; at += resendEvery) timers.push(setTimeout(send, at))
    send()
  })
}

/** The `LOCATION` of an SSDP answer, when it is an http URL. */
function locationOf(headers: unknown): URL | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined
  const location = (headers as Record<string, unknown>).location
  if (typeof location !== 'string') return undefined
  try {
    const url = new URL(location.trim())
    return url.protocol === 'http:' ? url : undefined
  } catch {
    return undefined
  }
}

/**
 * Our IPv4 address on the route to `host` (a configured gateway): connecting
 * a UDP socket picks the route without sending anything.
 */
export function localAddressTowards(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4')
    const fail = (error: Error): void => {
      socket.close()
      reject(new UpnpError('unreachable', `no route to the gateway ${host}: ${error.message}`, { cause: error }))
    }
    socket.once('error', fail)
    // Node hands a failed lookup or connect to this callback as its argument.
    socket.connect(port, host, (...args: unknown[]) => {
      socket.off('error', fail)
      if (args[0] instanceof Error) return fail(args[0])
      const { address } = socket.address()
      socket.close()
      resolve(address)
    })
  })
}
