/**
 * `crust start`: run a node until Ctrl-C, with a control socket for `crust
 * peers`, `ping` and `send`, an inbox for files, and a live table of peers.
 *
 * @packageDocumentation
 */
import { resolve } from 'node:path'
import { type CrustNode, createNode, isPeerId } from '@crust/core'
import { durationFlag, expectPositionals, parseCommandArgs, sizeFlag } from '../args.js'
import type { Command } from '../command.js'
import { readConfigFile } from '../config/file.js'
import { buildNodeConfig } from '../config/node-config.js'
import { ControlServer } from '../control/server.js'
import { ExitCode, FailureError, messageOf, UsageError } from '../errors.js'
import { Inbox } from '../files/inbox.js'
import type { CliIo } from '../io.js'
import { reportNodeEvents } from '../node/event-lines.js'
import { handleMessages } from '../node/message-handler.js'
import { summariseNat } from '../node/nat-words.js'
import { natStatus } from '@crust/nat'
import { LocalOperations } from '../node/operations.js'
import { peerRow } from '../node/peer-rows.js'
import { type MetricsEndpoint, metricsEndpoint, parseMetricsAddress } from '../node/metrics-endpoint.js'
import { createReporter, type Reporter } from '../node/reporter.js'
import { controlPath, dataDir } from '../paths.js'
import { formatBytes, formatDuration, formatPeer } from '../render/format.js'

/** Largest file an inbox takes without --max-file. */
const DEFAULT_MAX_FILE = 4 * 2 ** 30

const HELP = `Usage: crust start [--config <file>] [options]

Run a node until Ctrl-C (or SIGTERM): print its peer id, addresses and NAT
status, then the events and a table of connections (transport, direction,
how the connection was made, bytes, round-trip time), refreshed every few
seconds. On stop it closes connections, removes UPnP port mappings and saves
the bootstrap cache, and exits 0.

While it runs, crust peers, crust ping and crust send act through its
control socket. With --inbox, files that --allow'ed peers send are saved
there once their SHA-256 checks out; an interrupted file's partial copy
(hidden, .crust-*.part) is kept for the sender to resume.

Options:
  -c, --config <file>      JSON config file (see below)
  --network <name>         network name (default: crust)
  --listen <address>       listen address, repeatable, e.g. tcp://0.0.0.0:4001
                           (replaces the config's listen)
  --key-file <file>        identity key (default: identity.pem in the data directory,
                           created on first start); it must exist unless --create-key
  --create-key             create the --key-file (a new identity) if it does not exist
  --contact <peer@addr>    bootstrap contact peerId@address, repeatable; the node
                           joins through it at start
  --control <path>         control socket (default: control.sock in --data-dir, else
                           $XDG_RUNTIME_DIR/crust/control.sock, else in the data directory)
  --inbox <dir>            receive files (crust send --file) into this directory; without
                           it the node takes no files (senders are told it does not)
  --max-file <size>        largest file accepted, e.g. 500MB, 2GiB (default 4GiB)
  --allow <peerId>         a peer allowed to send files, repeatable (default: none;
                           others are refused, reason not-allowed)
  --data-dir <dir>         data directory: key, bootstrap cache, inbox, control socket
                           (default: the platform's, e.g. ~/.local/share/crust)
  --interval <duration>    refresh of the peers table and round-trip times (default 5s)
  --log-level <level>      core log level on stderr: debug, info, warn, error (default), silent
  --metrics <host:port>    serve Prometheus metrics at http://host:port/metrics
                           (e.g. 127.0.0.1:9464; see the metrics table in the README)
  --json                   JSON lines: {"type":"ready",...}, then "event" and "peers" lines
  -h, --help               show this help

Config file: the core's node config (networkName, listen, bootstrap,
connection, auth, reachability, blacklist, ...: validated by the core) with
plugins named instead of constructed:

  {
    "networkName": "my-app",
    "transports": ["tcp", {"quic": {"port": 4001}}],
    "discovery": [{"beacon": {"autoConnect": true}}],
    "services": ["upnp", {"stun": {"servers": ["stun.example.org:3478"]}}, "holePunch", "relay"],
    "listen": ["tcp://0.0.0.0:4001", "quic://[::]:4001"],
    "bootstrap": {"contacts": [{"peerId": "bciq…", "addresses": ["tcp://203.0.113.5:4001"]}]}
  }

transports: tcp, quic (default: the schemes of the listen addresses, or both);
discovery: beacon; services: any plugin of @crust/nat by export name (upnp,
stun, holePunch, relay, relayServer). Relative paths in the file are relative
to the file. Flags override the file.

Examples:
  crust start
  crust start --listen tcp://0.0.0.0:4001 --listen quic://0.0.0.0:4001
  crust start --config node.json --json
`

/** `crust start` */
export const startCommand: Command = {
  name: 'start',
  summary: 'run a node: peer id, addresses, NAT status and a live table of peers',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('start', {
      args: [...args],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        network: { type: 'string' },
        listen: { type: 'string', multiple: true },
        'key-file': { type: 'string' },
        'create-key': { type: 'boolean', default: false },
        contact: { type: 'string', multiple: true },
        control: { type: 'string' },
        inbox: { type: 'string' },
        'max-file': { type: 'string' },
        allow: { type: 'string', multiple: true },
        'data-dir': { type: 'string' },
        interval: { type: 'string' },
        'log-level': { type: 'string' },
        metrics: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('start', positionals, [])
    const interval = Math.max(500, durationFlag('interval', values.interval, 5_000))
    const data = await dataDir(values['data-dir'], io.cwd)
    const file = values.config === undefined ? undefined : await readConfigFile(values.config, io.cwd)
    const { input, config } = await buildNodeConfig(file, {
      dataDir: data,
      ...(values.network === undefined ? {} : { network: values.network }),
      ...(values.listen === undefined ? {} : { listen: values.listen }),
      ...(values['key-file'] === undefined ? {} : { keyFile: resolve(io.cwd, values['key-file']), createKey: values['create-key'] }),
      ...(values.contact === undefined ? {} : { contacts: values.contact }),
      ...(values['log-level'] === undefined ? {} : { logLevel: values['log-level'] }),
    })
    const control = await controlPath({ control: values.control, dataDir: values['data-dir'], cwd: io.cwd, env: io.env })
    const inboxDir = values.inbox === undefined ? undefined : resolve(io.cwd, values.inbox)
    const maxFile = sizeFlag('max-file', values['max-file'], DEFAULT_MAX_FILE)
    for (const peer of values.allow ?? []) {
      if (!isPeerId(peer)) throw new UsageError(`--allow '${peer}' is not a peer id (they look like bciq…)`)
    }
    if (inboxDir === undefined && (values.allow !== undefined || values['max-file'] !== undefined)) {
      throw new UsageError('--allow and --max-file need --inbox <dir> (where files are saved)')
    }
    const reporter = createReporter(io.stdout, values.json)
    const metrics = values.metrics === undefined ? undefined : metricsEndpoint(parseMetricsAddress(values.metrics))

    let node: CrustNode
    try {
      // Log lines go through the reporter, so they neither tear the live table nor break --json output.
      node = await createNode({
        ...input,
        logSink: (record) => reporter.event('log', { ...record }, `${record.level}: ${record.message}`),
        ...(metrics === undefined ? {} : { metrics: metrics.recorder }),
      })
    } catch (error) {
      throw new FailureError(`cannot create the node: ${messageOf(error)}`)
    }
    const inbox =
      inboxDir === undefined
        ? undefined
        : new Inbox({
            dir: inboxDir,
            maxFileSize: maxFile,
            allow: new Set(values.allow ?? []),
            onSaved: (file) =>
              reporter.event(
                'file',
                { ...file },
                `received ${file.name} (${formatBytes(file.size)}) from ${formatPeer(file.peerId)} in ${formatDuration(file.ms)}${file.resumedFrom > 0 ? ` (resumed at ${formatBytes(file.resumedFrom)})` : ''}, SHA-256 verified: saved to ${file.path}`,
              ),
            onRefused: (file) => reporter.event('file:refused', { ...file }, `file from ${formatPeer(file.peerId)} not saved (${file.reason}): ${file.message}`),
          })
    inbox?.register(node)
    handleMessages(node, (message) => {
      const shown = message.text === undefined ? `${formatBytes(message.bytes)} of binary data` : JSON.stringify(message.text.slice(0, 500))
      reporter.event('message', { ...message }, `message from ${formatPeer(message.peerId)}: ${shown}`)
    })
    const server = await ControlServer.listen(control, {
      operations: new LocalOperations(node),
      status: () => ({ peerId: node.peerId, networkName: config.networkName, addresses: node.addresses, ...(inboxDir === undefined ? {} : { inbox: inboxDir }), pid: process.pid }),
    })
    const stopReporting = reportNodeEvents(node, reporter)
    try {
      await node.start()
    } catch (error) {
      stopReporting()
      await server.close()
      await node.stop().catch(() => {})
      throw new FailureError(`cannot start the node: ${messageOf(error)}`)
    }
    let metricsServer: Awaited<ReturnType<MetricsEndpoint['listen']>> | undefined
    try {
      metricsServer = await metrics?.listen()
    } catch (error) {
      stopReporting()
      await server.close()
      await node.stop().catch(() => {})
      throw error
    }
    const natServices = node.runningServices.map((s) => s.id).filter((id) => ['upnp', 'pcp', 'stun', 'holepunch'].includes(id))
    reporter.ready({
      peerId: node.peerId,
      networkName: config.networkName,
      role: config.role,
      addresses: node.addresses,
      control: server.path,
      ...(inboxDir === undefined ? {} : { inbox: inboxDir, maxFile, allow: values.allow ?? [] }),
      nat: natStatus(node.nat),
      natSummary: summariseNat(natStatus(node.nat), natServices),
      pid: process.pid,
      ...(metricsServer === undefined ? {} : { metrics: metricsServer.url }),
    })

    const refresher = startRefresh(node, reporter, interval)
    const showSoon = (): void => refresher.soon()
    const offTable = [node.on('connection:open', showSoon), node.on('connection:close', showSoon)]
    await untilAborted(io.interrupt)

    reporter.stopping()
    refresher.stop()
    for (const off of offTable) off()
    await server.close()
    await metricsServer?.close()
    await node.stop()
    await inbox?.close()
    stopReporting()
    reporter.stopped()
    return ExitCode.OK
  },
}

/** Ping every connection and report the table every `interval`, and soon after connections change. */
function startRefresh(node: CrustNode, reporter: Reporter, interval: number): { soon(): void; stop(): void } {
  let stopped = false
  let soonTimer: NodeJS.Timeout | undefined
  const show = (): void => {
    if (!stopped) reporter.peers(node.connections.map(peerRow))
  }
  const tick = async (): Promise<void> => {
    const timeout = Math.min(interval, 4_000)
    // Ping failures are not events: the connection's own close says what went wrong.
    await Promise.allSettled(node.connections.map((c) => c.ping({ timeout })))
    show()
  }
  const timer = setInterval(() => void tick(), interval)
  void tick()
  return {
    soon() {
      clearTimeout(soonTimer)
      soonTimer = setTimeout(show, 100)
    },
    stop() {
      stopped = true
      clearInterval(timer)
      clearTimeout(soonTimer)
    },
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}
