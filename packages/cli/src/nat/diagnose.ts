/**
 * The facts of `crust nat`: start a short-lived node with `upnp()` and
 * `stun({ servers })`, optionally ask a peer where it sees us, and collect
 * what they found.
 *
 * @packageDocumentation
 */
import { createNode, type CrustNode, type ServiceFactory, isCrustError } from '@crust/core'
import { type NatStatus, StunService, type UpnpStatus, natStatus, stun, upnp } from '@crust/nat'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { FailureError, messageOf, UsageError } from '../errors.js'
import type { Target } from '../node/target.js'
import { type LocalAddress, localAddresses } from './local-addresses.js'

/** What `crust nat` is asked to do. */
export interface DiagnoseOptions {
  /** STUN servers, `host:port`. */
  readonly stunServers: readonly string[]
  /** How long to wait for a UPnP gateway (ms). */
  readonly upnpTimeout: number
  /** A peer to ask where it sees us. */
  readonly contact?: Target
  /** Port to listen on (TCP and UDP); 0 for any. */
  readonly port: number
  readonly networkName: string
  readonly signal?: AbortSignal
}

/** What the peer told us. */
export interface PeerView {
  readonly peerId: string
  /** Where it sees us, per transport (its echo). */
  readonly sawUs: Readonly<Record<string, readonly string[]>>
  /** Why we could not ask it. */
  readonly error?: string
}

/** Everything `crust nat` found. */
export interface NatDiagnosis {
  readonly peerId: string
  /** Where the diagnosis node listened. */
  readonly listening: readonly string[]
  readonly localAddresses: readonly LocalAddress[]
  readonly upnp: UpnpStatus
  readonly upnpTimeout: number
  readonly stunServers: readonly string[]
  /** Why STUN found nothing, when it failed. */
  readonly stunError?: string
  readonly reflexiveAddress?: string
  readonly mapping: NatStatus['mapping']
  readonly peer?: PeerView
}

/**
 * Run the diagnosis.
 *
 * @throws UsageError for bad STUN servers or timeouts; FailureError when the node cannot start.
 */
export async function diagnose(options: DiagnoseOptions): Promise<NatDiagnosis> {
  const services = natServices(options)
  const node = await createNode({
    networkName: options.networkName,
    transports: [tcp(), quic()],
    // IPv4 wildcards: UPnP maps IPv4 ports, and STUN asks from the QUIC socket.
    listen: [`tcp://0.0.0.0:${options.port}`, `quic://0.0.0.0:${options.port}`],
    services,
    bootstrap: { cache: false },
    reachability: { check: 'off' },
    logLevel: 'silent',
  })
  let stunError: string | undefined
  node.on('service:event', (event) => {
    if (event.service === 'stun' && event.type === 'failed') stunError = event.message
  })
  try {
    await node.start()
  } catch (error) {
    throw new FailureError(`cannot start the diagnosis node: ${messageOf(error)}`)
  }
  try {
    const peer = options.contact ? await askPeer(node, options.contact, options.signal) : undefined
    // Wait for STUN's answer (or its failure); with no servers it reads the peer's echo.
    const service = node.runningServices.find((s): s is StunService => s instanceof StunService)
    const status = service ? await service.refresh() : natStatus(node.nat)
    return {
      peerId: node.peerId,
      listening: node.addresses.filter((a) => !a.includes('0.0.0.0')),
      localAddresses: localAddresses(),
      upnp: status.upnp,
      upnpTimeout: options.upnpTimeout,
      stunServers: options.stunServers,
      ...(stunError === undefined ? {} : { stunError }),
      ...(status.reflexiveAddress === undefined ? {} : { reflexiveAddress: status.reflexiveAddress }),
      mapping: status.mapping,
      ...(peer === undefined ? {} : { peer }),
    }
  } finally {
    await node.stop() // removes any test mapping from the gateway
  }
}

/** `upnp()` and `stun()` with the command's options; their complaints name the flag. */
function natServices(options: DiagnoseOptions): ServiceFactory[] {
  try {
    return [
      upnp({ discoveryTimeout: options.upnpTimeout }),
      // Short timeouts: a diagnosis should answer in seconds; no refresh, it runs once.
      stun({ servers: [...options.stunServers], timeout: 400, retries: 2, refreshInterval: 0 }),
    ]
  } catch (error) {
    if (isCrustError(error, 'ERR_CONFIG')) {
      const issue = error.issues[0]
      const flag = issue?.path.startsWith('upnp') ? '--upnp-timeout' : '--stun'
      throw new UsageError(`${flag}: ${issue?.message ?? error.message}`)
    }
    throw error
  }
}

/** Connect to the peer (over QUIC when it has a QUIC address: STUN's socket) and read its echo. */
async function askPeer(node: CrustNode, target: Target, signal?: AbortSignal): Promise<PeerView> {
  const quicFirst = target.addresses.some((a) => a.startsWith('quic://'))
  try {
    const connection = await node.connect(
      { ...(target.peerId ? { peerId: target.peerId } : {}), addresses: target.addresses },
      { retry: false, signal, ...(quicFirst ? { transport: 'quic' } : {}) },
    )
    await connection.ping({ timeout: 3_000 }).catch(() => undefined)
    return { peerId: connection.peerId, sawUs: node.externalAddresses }
  } catch (error) {
    return { peerId: target.peerId ?? target.text, sawUs: {}, error: messageOf(error) }
  }
}
