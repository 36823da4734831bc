/**
 * How `crust serve` reports: a ready object, then status snapshots and log
 * lines; JSON lines for machines, words and a live table for people.
 *
 * @packageDocumentation
 */
import type { Output } from '../io.js'
import { clock, formatBytes } from '../render/format.js'
import { LiveView } from '../render/live.js'
import { renderTable } from '../render/table.js'
import type { ServeStatus } from './status.js'

/** What `crust serve` says once it is up. */
export interface ServeReady {
  readonly peerId: string
  readonly networkName: string
  readonly addresses: readonly string[]
  /** `peerId@address,address…`: what clients pass to `--contact` or `rendezvous({ servers })`. */
  readonly contact: string
  /** One `peerId@address` per address. */
  readonly contacts: readonly string[]
  /** What runs. */
  readonly services: {
    readonly relay: boolean
    readonly rendezvous: boolean
    readonly holePunch: boolean
    /** Where the STUN responder answers (`host:port`), or false. */
    readonly stun: string | false
  }
  readonly pid: number
}

/** The output of `crust serve`. */
export interface ServeReporter {
  ready(info: ServeReady): void
  log(data: Readonly<Record<string, unknown>>, line: string): void
  status(status: ServeStatus): void
  stopping(): void
  stopped(): void
}

/** A reporter for `out`: JSON lines, or text (a live table on a TTY). Log lines before `ready` are held back. */
export function createServeReporter(out: Output, json: boolean): ServeReporter {
  return json ? new JsonServeReporter(out) : new TextServeReporter(out)
}

/** `{"type":"ready",...}`, then `{"type":"status",...}` every interval and `{"type":"event","event":"log",...}`, `{"type":"stopped"}` last. */
class JsonServeReporter implements ServeReporter {
  private held: Array<Record<string, unknown>> | undefined = []

  constructor(private readonly out: Output) {}

  ready(info: ServeReady): void {
    this.write({ type: 'ready', ...info })
    for (const line of this.held ?? []) this.write(line)
    this.held = undefined
  }

  log(data: Readonly<Record<string, unknown>>): void {
    const line = { ...data, type: 'event', event: 'log', at: Date.now() }
    if (this.held) this.held.push(line)
    else this.write(line)
  }

  status(status: ServeStatus): void {
    this.write({ type: 'status', at: Date.now(), ...status })
  }

  stopping(): void {}

  stopped(): void {
    this.write({ type: 'stopped' })
  }

  private write(value: unknown): void {
    this.out.write(`${JSON.stringify(value)}\n`)
  }
}

/** Words: a header with the contact, log lines, and the status table (redrawn in place on a TTY). */
class TextServeReporter implements ServeReporter {
  private readonly view: LiveView | undefined
  private held: string[] | undefined = []
  private lastShape = ''

  constructor(private readonly out: Output) {
    this.view = out.isTTY ? new LiveView(out) : undefined
  }

  ready(info: ServeReady): void {
    const { services } = info
    const on = (yes: boolean): string => (yes ? 'on' : 'off')
    const lines = [
      `crust serve up on network "${info.networkName}"`,
      `  peer id      ${info.peerId}`,
      `  addresses    ${info.addresses.join('\n               ')}`,
      `  relay ${on(services.relay)}, rendezvous ${on(services.rendezvous)}, hole-punch rendezvous ${on(services.holePunch)}, STUN ${services.stun === false ? 'off' : `on ${services.stun}`}`,
      '',
      'Contact (give it to clients: crust start --contact <it>, rendezvous({ servers: [<it>] })):',
      `  ${info.contact}`,
      ...(info.contacts.length > 1 ? ['One address each:', ...info.contacts.map((c) => `  ${c}`)] : []),
      'Ctrl-C stops it.',
      '',
    ]
    this.out.write(`${lines.join('\n')}\n`)
    for (const line of this.held ?? []) this.say(line)
    this.held = undefined
  }

  log(_data: Readonly<Record<string, unknown>>, line: string): void {
    const text = `${clock()}  ${line}`
    if (this.held) this.held.push(text)
    else this.say(text)
  }

  status(status: ServeStatus): void {
    const table = renderStatus(status)
    if (this.view) {
      this.view.setTable(['', `status at ${clock()}:`, ...table.map((l) => `  ${l}`)])
      return
    }
    // Without a terminal (a log file), a table only when the counts other than bytes changed.
    const { rendezvous } = status
    const registrations = rendezvous && { registrations: rendezvous.registrations, peers: rendezvous.peers, topics: rendezvous.topics, largest: rendezvous.largestTopics }
    const shape = JSON.stringify({ ...status, bytesIn: 0, bytesOut: 0, relay: status.relay?.circuits, rendezvous: registrations })
    if (shape === this.lastShape) return
    this.lastShape = shape
    this.out.write(`${[`status at ${clock()}:`, ...table.map((l) => `  ${l}`)].join('\n')}\n`)
  }

  stopping(): void {
    this.view?.release()
    this.out.write('stopping…\n')
  }

  stopped(): void {
    this.out.write('stopped\n')
  }

  private say(text: string): void {
    if (this.view) this.view.log(text)
    else this.out.write(`${text}\n`)
  }
}

/**
 * The status as text lines: connections, what each service carried or
 * served, then the largest topics, and last the node's own app traffic
 * (which never includes the services' protocol streams).
 */
export function renderStatus(status: ServeStatus): string[] {
  const lines = [`connections    ${status.connections}`]
  if (status.relay) {
    const { circuits, relayedBytes } = status.relay
    lines.push(`relay          ${circuits} circuit${circuits === 1 ? '' : 's'}, ${formatBytes(relayedBytes)} relayed`)
  }
  if (status.stun) lines.push(`STUN           ${status.stun.answered} answered, ${status.stun.dropped} dropped`)
  const rv = status.rendezvous
  if (rv) {
    lines.push(`rendezvous     ${rv.registrations} registrations of ${rv.peers} peers in ${rv.topics} topics`)
    lines.push(`               ${rv.requests} requests answered, ${formatBytes(rv.bytesIn)} in, ${formatBytes(rv.bytesOut)} served`)
    if (rv.largestTopics.length > 0) {
      const table = renderTable(
        [
          { header: 'topic', cell: (t: { topic: string; registrations: number }) => t.topic },
          { header: 'registrations', cell: (t) => String(t.registrations), right: true },
        ],
        rv.largestTopics,
      )
      lines.push(...table.map((l) => `  ${l}`))
      if (rv.topics > rv.largestTopics.length) lines.push(`  … and ${rv.topics - rv.largestTopics.length} more topics`)
    }
  }
  lines.push(`own traffic    ${formatBytes(status.bytesIn)} in, ${formatBytes(status.bytesOut)} out (messages and streams to this node, not relayed or served)`)
  return lines
}
