/**
 * How `crust start` reports: JSON lines for machines, or words for people
 * (with a live table on a terminal).
 *
 * @packageDocumentation
 */
import type { NatStatus } from '@crust/nat'
import type { Output } from '../io.js'
import { clock, formatBytes, formatPeer } from '../render/format.js'
import { LiveView } from '../render/live.js'
import { type PeerRow, renderPeers } from './peer-rows.js'

/** What `crust start` says once the node is up. */
export interface ReadyInfo {
  readonly peerId: string
  readonly networkName: string
  readonly role: string
  readonly addresses: readonly string[]
  /** The control socket path. */
  readonly control: string
  /** Where received files go (`--inbox`); absent when the node takes no files. */
  readonly inbox?: string
  /** Largest file the inbox takes, bytes. */
  readonly maxFile?: number
  /** Peers allowed to send files. */
  readonly allow?: readonly string[]
  readonly nat: NatStatus
  /** {@link ReadyInfo.nat} in words. */
  readonly natSummary: string
  readonly pid: number
  /** Where `--metrics` serves Prometheus text, when asked. */
  readonly metrics?: string
}

/** The output of a running node. */
export interface Reporter {
  ready(info: ReadyInfo): void
  /** Something happened: `data` for JSON, `line` for people. */
  event(name: string, data: Readonly<Record<string, unknown>>, line: string): void
  /** The current connections (every refresh). */
  peers(rows: readonly PeerRow[]): void
  stopping(): void
  stopped(): void
}

/**
 * A reporter for `out`: JSON lines, or text with a live table on a TTY.
 * Events and tables that come before `ready` (while the node starts) are
 * held back until after it, so `ready` is always the first thing said.
 */
export function createReporter(out: Output, json: boolean): Reporter {
  return new ReadyFirst(json ? new JsonReporter(out) : new TextReporter(out))
}

/** Holds back everything until `ready`. */
class ReadyFirst implements Reporter {
  private held: Array<(r: Reporter) => void> | undefined = []

  constructor(private readonly inner: Reporter) {}

  ready(info: ReadyInfo): void {
    this.inner.ready(info)
    const held = this.held ?? []
    this.held = undefined
    for (const say of held) say(this.inner)
  }

  event(name: string, data: Readonly<Record<string, unknown>>, line: string): void {
    this.say((r) => r.event(name, data, line))
  }

  peers(rows: readonly PeerRow[]): void {
    this.say((r) => r.peers(rows))
  }

  stopping(): void {
    this.say((r) => r.stopping())
  }

  stopped(): void {
    this.say((r) => r.stopped())
  }

  private say(what: (r: Reporter) => void): void {
    if (this.held) this.held.push(what)
    else what(this.inner)
  }
}

/**
 * JSON lines: `{"type":"ready",...}` first, then `{"type":"event","event":...}`
 * and `{"type":"peers","peers":[...]}` snapshots, and `{"type":"stopped"}` last.
 */
class JsonReporter implements Reporter {
  constructor(private readonly out: Output) {}

  ready(info: ReadyInfo): void {
    this.line({ type: 'ready', ...info })
  }

  event(name: string, data: Readonly<Record<string, unknown>>): void {
    this.line({ ...data, type: 'event', event: name, at: Date.now() })
  }

  peers(rows: readonly PeerRow[]): void {
    this.line({ type: 'peers', at: Date.now(), peers: rows })
  }

  stopping(): void {}

  stopped(): void {
    this.line({ type: 'stopped' })
  }

  private line(value: unknown): void {
    this.out.write(`${JSON.stringify(value)}\n`)
  }
}

/** Words: a header, timestamped event lines, and the peers table (redrawn in place on a TTY). */
class TextReporter implements Reporter {
  private readonly view: LiveView | undefined
  private lastShape = ''

  constructor(private readonly out: Output) {
    this.view = out.isTTY ? new LiveView(out) : undefined
  }

  ready(info: ReadyInfo): void {
    const lines = [
      `crust node up on network "${info.networkName}"${info.role === 'client' ? ' (client)' : ''}`,
      `  peer id    ${info.peerId}`,
      `  addresses  ${info.addresses.length > 0 ? info.addresses.join('\n             ') : '(none: clients do not listen)'}`,
      `  NAT        ${info.natSummary}`,
      `  control    ${info.control}`,
      `  inbox      ${inboxWords(info)}`,
      ...(info.metrics === undefined ? [] : [`  metrics    ${info.metrics}`]),
      'Ctrl-C stops the node.',
      '',
    ]
    this.out.write(`${lines.join('\n')}\n`)
  }

  event(_name: string, _data: Readonly<Record<string, unknown>>, line: string): void {
    const text = `${clock()}  ${line}`
    if (this.view) this.view.log(text)
    else this.out.write(`${text}\n`)
  }

  peers(rows: readonly PeerRow[]): void {
    if (this.view) {
      const width = this.out.columns
      this.view.setTable(['', `peers at ${clock()}:`, ...renderPeers(rows, width).map((l) => `  ${l}`)])
      return
    }
    // Without a terminal, a table only when the set of connections changed (logs stay short).
    const shape = rows.map((r) => `${r.peerId}/${r.transport}/${r.direction}`).join(',')
    if (shape === this.lastShape) return
    this.lastShape = shape
    this.out.write(`${[`peers at ${clock()}:`, ...renderPeers(rows).map((l) => `  ${l}`)].join('\n')}\n`)
  }

  stopping(): void {
    this.view?.release()
    this.out.write('stopping…\n')
  }

  stopped(): void {
    this.out.write('stopped\n')
  }
}

/** The inbox line: where, how large, from whom; or that the node takes no files. */
function inboxWords(info: ReadyInfo): string {
  if (info.inbox === undefined) return 'none: this node takes no files (crust start --inbox <dir> --allow <peerId>)'
  const from = info.allow === undefined || info.allow.length === 0 ? 'nobody yet (add --allow <peerId>)' : info.allow.map(formatPeer).join(', ')
  return `${info.inbox} (files up to ${formatBytes(info.maxFile ?? 0)} from ${from})`
}
