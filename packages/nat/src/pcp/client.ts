import { type Socket, createSocket } from 'node:dgram'
import { errorMessage } from '@crust/core/plugin'
import { PcpError } from './errors.js'
import {
  type AnswerHeader,
  type MapAnswer,
  type MapProtocol,
  NATPMP_VERSION,
  NONCE_BYTES,
  PcpOpcode,
  PcpResult,
  SERVER_PORT,
  answerVersion,
  decodeNatPmpAddress,
  decodeNatPmpMap,
  decodePcpHeader,
  decodePcpMap,
  encodeNatPmpAddress,
  encodeNatPmpMap,
  encodePcpAnnounce,
  encodePcpMap,
  epochRegressed,
} from './packets.js'

/** Which protocol the gateway speaks: also the connection method of its mappings. */
export type PortControlProtocol = 'pcp' | 'nat-pmp'

/** One mapping to ask for. */
export interface MapRequest {
  readonly protocol: MapProtocol
  readonly internalPort: number
  readonly externalPort: number
  /** Seconds; 0 removes the mapping. */
  readonly lifetime: number
}

/** An answer and whether its epoch shows the gateway lost its mappings since the previous answer. */
export type Answered<T> = T & { readonly rebooted: boolean }

/**
 * A PCP / NAT-PMP client for one gateway: one UDP socket connected to its
 * port 5351, one request in flight at a time, retransmitted on RFC 6887's schedule (250 ms, doubling) a
 * bounded number of times. Only datagrams from the gateway's address and
 * port 5351 are read; one that fails to decode is remembered and reported
 * (a `malformed` {@link PcpError}) only if no good answer follows. It tracks
 * the server epoch so every answer says whether the gateway rebooted.
 */
export class PortControlClient {
  private readonly socket: Socket
  /** The datagram handler of the request in flight. */
  private onAnswer: ((message: Buffer) => void) | undefined
  /** The port-unreachable handler of the request in flight. */
  private onRefused: (() => void) | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private last: { epoch: number; at: number } | undefined
  private closed = false
  /** Speaks PCP until the gateway says it only knows NAT-PMP. */
  private spoken: PortControlProtocol | undefined
  /** PCP identifies a mapping by its nonce: one per client (per node run), so a renewal refreshes the same mapping. */
  private readonly nonce: Uint8Array

  private constructor(
    readonly gateway: string,
    readonly clientIp: string,
    private readonly schedule: readonly number[],
    private readonly allowed: readonly PortControlProtocol[],
    nonce: Uint8Array,
  ) {
    this.nonce = nonce
    this.socket = createSocket('udp4')
    // ICMP port unreachable from the gateway comes back as ECONNREFUSED, on a send or a receive.
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') this.onRefused?.()
    })
    this.socket.on('message', (message, remote) => {
      if (remote.address !== this.gateway || remote.port !== SERVER_PORT) return
      this.onAnswer?.(message)
    })
  }

  /**
   * A client for `gateway`, sending from `clientIp` (our address towards it:
   * PCP refuses a request whose client address is not its source).
   */
  static async open(options: {
    gateway: string
    clientIp: string
    schedule: readonly number[]
    protocols: readonly PortControlProtocol[]
    nonce: Uint8Array
  }): Promise<PortControlClient> {
    if (options.nonce.length !== NONCE_BYTES) throw new PcpError('malformed', `a nonce is ${NONCE_BYTES} bytes`)
    const client = new PortControlClient(options.gateway, options.clientIp, options.schedule, options.protocols, options.nonce)
    await new Promise<void>((resolve, reject) => {
      client.socket.once('error', reject)
      client.socket.bind(0, options.clientIp, () => {
        // Connected: the kernel drops datagrams from anyone else, and a gateway with no server on 5351
        // answers ICMP port unreachable, which fails the next send at once instead of after every retransmission.
        client.socket.connect(SERVER_PORT, options.gateway, () => {
          client.socket.off('error', reject)
          resolve()
        })
      })
    }).catch((error: unknown) => {
      client.close()
      throw new PcpError('no-gateway', `cannot open a socket on ${options.clientIp}: ${errorMessage(error)}`, { cause: error })
    })
    return client
  }

  /** The protocol the gateway answered in, once known. */
  get protocol(): PortControlProtocol | undefined {
    return this.spoken
  }

  /**
   * Ask the gateway for its epoch (and, with NAT-PMP, its external address):
   * PCP ANNOUNCE or NAT-PMP external address request. Decides the protocol on first use.
   */
  async probe(signal: AbortSignal): Promise<Answered<{ protocol: PortControlProtocol; externalIp?: string }>> {
    return this.serial(async () => {
      if (this.spoken !== 'nat-pmp' && this.allowed.includes('pcp')) {
        const answer = await this.transact(encodePcpAnnounce(this.clientIp), signal, (message) => {
          if (answerVersion(message) === NATPMP_VERSION) return 'nat-pmp'
          return decodePcpHeader(message, PcpOpcode.ANNOUNCE)
        })
        if (answer !== 'nat-pmp' && answer.resultCode !== PcpResult.UNSUPP_VERSION) {
          this.spoken = 'pcp'
          // ANNOUNCE answers SUCCESS; any other result still carries a valid epoch.
          return { protocol: 'pcp', rebooted: this.observe(answer) }
        }
        if (!this.allowed.includes('nat-pmp')) throw new PcpError('unsupported', `the gateway ${this.gateway} does not speak PCP`)
      }
      const answer = await this.transact(encodeNatPmpAddress(), signal, (message) => decodeNatPmpAddress(message))
      if (answer.resultCode !== 0) throw resultError('NAT-PMP external address request', answer.resultCode, 'nat-pmp')
      this.spoken = 'nat-pmp'
      return { protocol: 'nat-pmp', externalIp: answer.externalIp, rebooted: this.observe(answer) }
    })
  }

  /** Map (or refresh, or with lifetime 0 remove) one port. A non-zero result is a `result` {@link PcpError}. */
  async map(request: MapRequest, signal: AbortSignal): Promise<Answered<MapAnswer>> {
    return this.serial(async () => {
      const protocol = this.spoken
      if (protocol === undefined) throw new PcpError('no-gateway', 'probe the gateway first')
      let answer: MapAnswer
      if (protocol === 'pcp') {
        const pcp = { ...request, clientIp: this.clientIp, nonce: this.nonce }
        answer = await this.transact(encodePcpMap(pcp), signal, (message) => decodePcpMap(message, pcp))
      } else {
        answer = await this.transact(encodeNatPmpMap(request), signal, (message) => decodeNatPmpMap(message, request))
      }
      const rebooted = this.observe(answer)
      if (answer.resultCode !== 0) throw resultError(`${protocol === 'pcp' ? 'PCP MAP' : 'NAT-PMP map'} ${request.protocol} ${request.internalPort}`, answer.resultCode, protocol)
      return { ...answer, rebooted }
    })
  }

  /** Close the socket; calls after this reject as `aborted`. Safe to call twice. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.onAnswer = undefined
    this.onRefused = undefined
    try {
      this.socket.close()
    } catch {
      // already closed
    }
  }

  /** Remember the epoch; true when it went backwards (the gateway lost its state). */
  private observe(answer: AnswerHeader): boolean {
    const now = Date.now()
    const rebooted = this.last !== undefined && epochRegressed(this.last, answer.epoch, now)
    this.last = { epoch: answer.epoch, at: now }
    return rebooted
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task, task)
    this.queue = result.catch(() => {})
    return result
  }

  /**
   * Send `request`, again after each wait of the schedule, until `decode`
   * accepts an answer. A datagram it rejects is kept as the error to report
   * if nothing better arrives (a stray or garbled datagram must not end the wait).
   */
  private transact<T>(request: Buffer, signal: AbortSignal, decode: (message: Buffer) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed || signal.aborted) return reject(new PcpError('aborted', 'stopped'))
      let timer: NodeJS.Timeout | undefined
      let garbled: PcpError | undefined
      let tried = 0
      let settled = false
      const finish = (error: PcpError | undefined, value?: T): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.onAnswer = undefined
        this.onRefused = undefined
        signal.removeEventListener('abort', onAbort)
        if (error !== undefined) reject(error)
        else resolve(value as T)
      }
      const onAbort = (): void => finish(new PcpError('aborted', 'stopped'))
      this.onRefused = () => finish(new PcpError('no-gateway', `nothing answers PCP or NAT-PMP on ${this.gateway}:${SERVER_PORT} (port unreachable)`))
      this.onAnswer = (message) => {
        try {
          finish(undefined, decode(message))
        } catch (error) {
          garbled = error instanceof PcpError ? error : new PcpError('malformed', errorMessage(error), { cause: error })
        }
      }
      const send = (): void => {
        if (this.closed) {
          finish(new PcpError('aborted', 'stopped'))
          return
        }
        const wait = this.schedule[tried++]
        if (wait === undefined) {
          const total = this.schedule.reduce((sum, ms) => sum + ms, 0)
          finish(garbled ?? new PcpError('timeout', `the gateway ${this.gateway} did not answer on port ${SERVER_PORT} within ${total} ms`))
          return
        }
        this.socket.send(request, (error) => {
          if ((error as NodeJS.ErrnoException | null)?.code === 'ECONNREFUSED') this.onRefused?.()
        })
        timer = setTimeout(send, wait)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      send()
    })
  }
}

const PCP_RESULTS: Record<number, string> = {
  1: 'UNSUPP_VERSION',
  2: 'NOT_AUTHORIZED',
  3: 'MALFORMED_REQUEST',
  4: 'UNSUPP_OPCODE',
  7: 'NETWORK_FAILURE',
  8: 'NO_RESOURCES',
  9: 'UNSUPP_PROTOCOL',
  11: 'CANNOT_PROVIDE_EXTERNAL',
  12: 'ADDRESS_MISMATCH',
}

const NATPMP_RESULTS: Record<number, string> = { 1: 'unsupported version', 2: 'not authorized', 3: 'network failure', 4: 'out of resources', 5: 'unsupported opcode' }

function resultError(what: string, code: number, protocol: PortControlProtocol): PcpError {
  const name = (protocol === 'pcp' ? PCP_RESULTS : NATPMP_RESULTS)[code]
  return new PcpError('result', `the gateway refused the ${what}: result ${code}${name === undefined ? '' : ` (${name})`}`, { resultCode: code })
}
