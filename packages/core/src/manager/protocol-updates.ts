/**
 * Protocol updates (what js-libp2p calls identify-push): peers learn the
 * application protocols a node handles in the handshake, and again whenever
 * the list changes while they are connected (`node.handle`,
 * `node.handleStream`, `node.unhandle`), so `connection.remoteProtocols`
 * stays true.
 *
 * An update is one small frame on a protocol stream, answered by nothing but
 * the stream's end: a peer cannot make the node send more than it received.
 * Each carries a sequence number, so a late update never replaces a newer one;
 * one that changes nothing (the handshake said it already) is not reported.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import { z } from 'zod'
import type { NodeConfig } from '../config/schema.js'
import type { Connection } from '../connection/connection.js'
import { MAX_HANDSHAKE_PROTOCOLS } from '../connection/handshake.js'
import { APP_PROTOCOL_PATTERN } from '../connection/protocol-name.js'
import { StreamResetCode } from '../connection/stream-codes.js'
import { Tokens } from '../di/tokens.js'
import { ProtocolError } from '../errors.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { ServiceStream } from '../service/types.js'
import type { PeerReports } from './peer-reports.js'
import type { ConnectionPool } from './pool.js'
import type { Registrar } from './registrar.js'

/** The core's protocol carrying a node's application protocols when they change. */
export const PROTOCOL_UPDATES_PROTOCOL = '/crust/protocols/1'

/** Largest update frame: 32 names of at most 128 bytes, JSON-quoted, and the sequence number. */
const MAX_UPDATE_BYTES = 8 * 1024
/** Changes made together (several `handle` calls in a row) go out as one update. */
const COALESCE_MS = 20

const updateSchema = z.object({
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  protocols: z.array(z.string().regex(APP_PROTOCOL_PATTERN)).max(MAX_HANDSHAKE_PROTOCOLS),
})

/** Tells connected peers when this node's application protocols change, and hears theirs. */
@injectable()
export class ProtocolUpdates {
  /** Sequence number of our latest update. */
  private seq = 0
  /** The latest sequence number each connection's peer sent us. */
  private readonly heard = new WeakMap<Connection, number>()
  private timer: NodeJS.Timeout | undefined
  private announced: string
  /** The latest update, sent to every connection pooled while it was recent. */
  private latest: { readonly frame: Uint8Array; readonly at: number } | undefined

  constructor(
    @inject(Tokens.Registrar) private readonly registrar: Registrar,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.PeerReports) private readonly reports: PeerReports,
    @inject(Tokens.Config) config: NodeConfig,
  ) {
    this.announced = JSON.stringify(registrar.announcedProtocols())
    // For the node's life: it may be started again after a stop.
    registrar.handleProtocol(PROTOCOL_UPDATES_PROTOCOL, (stream, connection) => {
      void this.receive(stream, connection as Connection)
    })
    registrar.onProtocolsChange(() => this.schedule())
    // A connection whose handshake was under way during a change may have announced the old list.
    events.on('connection:open', ({ connection }) => {
      const latest = this.latest
      if (latest !== undefined && performance.now() - latest.at < config.connection.handshakeTimeout + COALESCE_MS) void this.send(connection, latest.frame)
    })
  }

  /** Drop an update not sent yet (the node stops: its connections close). */
  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.push()
    }, COALESCE_MS)
    this.timer.unref()
  }

  /** Send the current list to every connected peer, if it changed since the last one sent. */
  private push(): void {
    const protocols = this.registrar.announcedProtocols()
    const announced = JSON.stringify(protocols)
    if (announced === this.announced) return
    this.announced = announced
    const frame = Buffer.from(JSON.stringify({ seq: ++this.seq, protocols }))
    this.latest = { frame, at: performance.now() }
    for (const connection of this.pool.all()) void this.send(connection, frame)
  }

  private async send(connection: Connection, frame: Uint8Array): Promise<void> {
    try {
      const stream = await connection.openProtocolStream(PROTOCOL_UPDATES_PROTOCOL)
      await stream.writeFrame(frame, { end: true })
      // Read to the end so the stream is released on both sides (the peer answers nothing).
      await stream.readFrame(0).catch(() => undefined)
    } catch (error) {
      // A peer of an older version resets the stream; a closing connection fails it. Either way it learns at its next handshake.
      this.logger.debug(`protocol update to ${connection.peerId} not delivered: ${String(error)}`)
    }
  }

  private async receive(stream: ServiceStream, connection: Connection): Promise<void> {
    let update: z.infer<typeof updateSchema>
    try {
      const frame = await stream.readFrame(MAX_UPDATE_BYTES)
      if (frame === undefined) throw new ProtocolError('protocol update: the stream ended without one')
      update = parseUpdate(frame)
      await stream.end()
    } catch (error) {
      stream.reset(StreamResetCode.PROTOCOL_ERROR)
      this.reports.peerError(connection, error)
      return
    }
    if (update.seq <= (this.heard.get(connection) ?? 0)) return
    this.heard.set(connection, update.seq)
    const protocols = [...update.protocols].sort()
    if (JSON.stringify(protocols) === JSON.stringify(connection.remoteProtocols)) return // what its handshake said already
    connection.remoteProtocols = protocols
    this.events.emit('peer:protocols', { peerId: connection.peerId, connection, protocols: connection.remoteProtocols })
  }
}

function parseUpdate(frame: Uint8Array): z.infer<typeof updateSchema> {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(frame).toString('utf8'))
  } catch {
    throw new ProtocolError('protocol update: not JSON')
  }
  const parsed = updateSchema.safeParse(json)
  if (!parsed.success) throw new ProtocolError(`protocol update: ${parsed.error.issues[0]?.message ?? 'malformed'}`)
  return parsed.data
}
