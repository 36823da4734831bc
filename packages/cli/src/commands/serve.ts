/**
 * `crust serve`: an infrastructure node in one command. It listens on TCP and
 * QUIC and runs what nodes beyond the LAN need from a public host: the
 * bootstrap contact, a STUN responder, the hole-punch rendezvous, a relay
 * server and a rendezvous server, each switchable by flag.
 *
 * @packageDocumentation
 */
import { resolve } from 'node:path'
import { type CrustNode, type ServiceFactory, createNode } from '@crust/core'
import { type RendezvousServerHandle, rendezvousServer } from '@crust/discovery-rendezvous'
import { type RelayServerHandle, type StunResponder, holePunch, relayServer, startStunResponder } from '@crust/nat'
import { parseAddress } from '@crust/core/plugin'
import { durationFlag, expectPositionals, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { buildNodeConfig } from '../config/node-config.js'
import { ExitCode, FailureError, UsageError, messageOf } from '../errors.js'
import type { CliIo } from '../io.js'
import { dataDir } from '../paths.js'
import { type ServeReporter, createServeReporter } from '../serve/serve-reporter.js'
import { StatusSource } from '../serve/status.js'

/** Where `crust serve` listens without `--listen`. */
export const SERVE_LISTEN = ['tcp://0.0.0.0:4001', 'quic://0.0.0.0:4001'] as const
/** The STUN port without `--stun-port` (the IANA one). */
export const STUN_PORT = 3478

const HELP = `Usage: crust serve [options]

An infrastructure node in one command, for a public host: it listens on TCP
and QUIC and runs
  - the bootstrap contact (nodes join through it: crust start --contact <contact>)
  - a STUN responder on UDP --stun-port (stun({ servers: ['host:3478'] }) asks it)
  - the hole-punch rendezvous (holePunch(): two NATed peers connected to it meet)
  - a relay server (relayServer(): carries end-to-end encrypted connections
    when nothing else works)
  - a rendezvous server (rendezvousServer(): peers register signed records under
    topics and find each other: rendezvous({ servers: [<contact>], topics }))
each with its package's default limits. It prints its contact string, then a
table of connections, bytes, relay circuits, registrations per topic and STUN
answers, refreshed every --interval. SIGTERM or Ctrl-C stops it (exit 0).

Options:
  --listen <address>       listen address, repeatable (default tcp://0.0.0.0:4001
                           and quic://0.0.0.0:4001)
  --key-file <file>        identity key (default: identity.pem in the data directory);
                           keep it so the contact stays the same across restarts
  --create-key             create the --key-file (a new identity) if it does not exist
  --network <name>         network name (default: crust); clients must use the same
  --contact <peer@addr>    another node to join at start (e.g. another crust serve), repeatable
  --stun-port <port>       UDP port of the STUN responder (default 3478; 0: any free port)
  --no-stun                no STUN responder
  --no-relay               no relay server
  --no-rendezvous          no rendezvous server
  --no-holepunch           no hole-punch rendezvous
  --data-dir <dir>         data directory: key and bootstrap cache
  --interval <duration>    refresh of the status table (default 5s)
  --log-level <level>      core log level: debug, info, warn, error (default), silent
  --json                   JSON lines: {"type":"ready",...}, then "status" lines
  -h, --help               show this help

Examples:
  crust serve --key-file serve.pem --create-key
  crust serve --listen tcp://0.0.0.0:443 --listen quic://0.0.0.0:443 --no-relay
`

/** `crust serve` */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'an infrastructure node: bootstrap contact, STUN, hole-punch rendezvous, relay and rendezvous server',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('serve', {
      args: [...args],
      allowPositionals: true,
      options: {
        listen: { type: 'string', multiple: true },
        'key-file': { type: 'string' },
        'create-key': { type: 'boolean', default: false },
        network: { type: 'string' },
        contact: { type: 'string', multiple: true },
        'stun-port': { type: 'string' },
        'no-stun': { type: 'boolean', default: false },
        'no-relay': { type: 'boolean', default: false },
        'no-rendezvous': { type: 'boolean', default: false },
        'no-holepunch': { type: 'boolean', default: false },
        'data-dir': { type: 'string' },
        interval: { type: 'string' },
        'log-level': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('serve', positionals, [])
    const interval = Math.max(500, durationFlag('interval', values.interval, 5_000))
    const stunPort = portFlag('stun-port', values['stun-port'], STUN_PORT)
    if (values['no-stun'] && values['stun-port'] !== undefined) throw new UsageError('--stun-port and --no-stun contradict each other')
    const listen = values.listen ?? [...SERVE_LISTEN]
    const data = await dataDir(values['data-dir'], io.cwd)
    const { input, config } = await buildNodeConfig(undefined, {
      dataDir: data,
      listen,
      ...(values.network === undefined ? {} : { network: values.network }),
      ...(values['key-file'] === undefined ? {} : { keyFile: resolve(io.cwd, values['key-file']), createKey: values['create-key'] }),
      ...(values.contact === undefined ? {} : { contacts: values.contact }),
      ...(values['log-level'] === undefined ? {} : { logLevel: values['log-level'] }),
    })
    const relay: RelayServerHandle | undefined = values['no-relay'] ? undefined : relayServer()
    const rendezvous: RendezvousServerHandle | undefined = values['no-rendezvous'] ? undefined : rendezvousServer()
    const services: ServiceFactory[] = [...(input.services ?? [])]
    if (!values['no-holepunch']) services.push(holePunch())
    if (relay) services.push(relay)
    if (rendezvous) services.push(rendezvous)
    const reporter = createServeReporter(io.stdout, values.json)

    let node: CrustNode
    try {
      node = await createNode({
        ...input,
        services,
        logSink: (record) => reporter.log({ ...record }, `${record.level}: ${record.message}`),
      })
    } catch (error) {
      throw new FailureError(`cannot create the node: ${messageOf(error)}`)
    }
    let stun: StunResponder | undefined
    try {
      await node.start()
      // On the host of the first listen address, so a loopback-only serve answers on loopback only.
      if (!values['no-stun']) stun = await startStunResponder({ host: stunHost(listen), port: stunPort })
    } catch (error) {
      await node.stop().catch(() => {})
      throw new FailureError(`cannot start: ${messageOf(error)}`)
    }
    const status = new StatusSource(node, { ...(relay ? { relay } : {}), ...(rendezvous ? { rendezvous } : {}), ...(stun ? { stun } : {}) })
    reporter.ready({
      peerId: node.peerId,
      networkName: config.networkName,
      addresses: node.addresses,
      contact: `${node.peerId}@${node.addresses.join(',')}`,
      contacts: node.addresses.map((address) => `${node.peerId}@${address}`),
      services: {
        relay: relay !== undefined,
        rendezvous: rendezvous !== undefined,
        holePunch: !values['no-holepunch'],
        stun: stun === undefined ? false : `${stun.host}:${stun.port}`,
      },
      pid: process.pid,
    })
    const timer = setInterval(() => reporter.status(status.read()), interval)
    reporter.status(status.read())
    await untilAborted(io.interrupt)

    await stopAll(reporter, timer, status, node, stun)
    return ExitCode.OK
  },
}

async function stopAll(reporter: ServeReporter, timer: NodeJS.Timeout, status: StatusSource, node: CrustNode, stun: StunResponder | undefined): Promise<void> {
  reporter.stopping()
  clearInterval(timer)
  status.close()
  await stun?.close()
  await node.stop()
  reporter.stopped()
}

/** A UDP port flag: 0 to 65535. */
function portFlag(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65_535) throw new UsageError(`--${name} must be a port number (0 to 65535), got '${text}'`)
  return port
}

/** The host of the first listen address, or every IPv4 interface. */
function stunHost(listen: readonly string[]): string {
  return (listen[0] === undefined ? undefined : parseAddress(listen[0]))?.host ?? '0.0.0.0'
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}
