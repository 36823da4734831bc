/**
 * The dispatcher: `crust <command> [args]`. It loads only the command that
 * runs, so `crust --help` and `crust keygen` do not pay for every transport.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs'
import type { Command, CommandEntry } from './command.js'
import { CliError, ExitCode, jsonError, messageOf } from './errors.js'
import type { CliIo } from './io.js'

/** Every command, in the order `crust --help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'start',
    summary: 'run a node: peer id, addresses, NAT status and a live table of peers',
    load: async () => (await import('./commands/start.js')).startCommand,
  },
  {
    name: 'serve',
    summary: 'an infrastructure node: bootstrap contact, STUN, hole-punch rendezvous, relay and rendezvous server',
    load: async () => (await import('./commands/serve.js')).serveCommand,
  },
  { name: 'peers', summary: "list a running node's connections", load: async () => (await import('./commands/peers.js')).peersCommand },
  { name: 'ping', summary: 'measure the round-trip time to a peer', load: async () => (await import('./commands/ping.js')).pingCommand },
  { name: 'send', summary: 'send a text message or a file to a peer', load: async () => (await import('./commands/send.js')).sendCommand },
  { name: 'nat', summary: 'diagnose the NAT: reflexive address, NAT type, UPnP, reachability', load: async () => (await import('./commands/nat.js')).natCommand },
  { name: 'keygen', summary: 'write a new identity key file and print its peer id', load: async () => (await import('./commands/keygen.js')).keygenCommand },
  { name: 'bench', summary: 'run the benchmarks (from a Crust checkout) and print a table', load: async () => (await import('./commands/bench.js')).benchCommand },
  { name: 'demo', summary: 'several real nodes on this machine: discovery, TCP, QUIC fallback, blacklist, re-join', load: async () => (await import('./commands/demo.js')).demoCommand },
]

/** The text of `crust --help`. */
export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)
  return [
    'crust: the Crust P2P node on the command line',
    '',
    'Usage: crust <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     show help (also: crust <command> --help)',
    '  -v, --version  print the version',
    '',
    'Exit codes: 0 ok, 1 failed at run time (e.g. peer unreachable), 2 bad flags or config, 130 interrupted.',
    '',
  ].join('\n')
}

/** The version of this package. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }
  return pkg.version ?? 'unknown'
}

/** Look a command up by name. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  const entry = COMMANDS.find((c) => c.name === name)
  return entry?.load()
}

/**
 * Run `crust` with `argv` (the arguments after the program name) and resolve
 * to the exit code. Errors are reported on `io.stderr` as one line:
 * `crust <command>: <what went wrong>`.
 *
 * @example
 * ```ts
 * const code = await runCli(['keygen', '--out', 'id.pem'], processIo(new AbortController().signal))
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) {
    io.stderr.write('crust: missing command (see crust --help)\n')
    return ExitCode.USAGE
  }
  if (first === '--help' || first === '-h') {
    io.stdout.write(overview())
    return ExitCode.OK
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${version()}\n`)
    return ExitCode.OK
  }
  if (first === 'help') return help(rest[0], io)
  const command = await loadCommand(first)
  if (command === undefined) {
    io.stderr.write(`crust: unknown ${first.startsWith('-') ? 'option' : 'command'} '${first}' (see crust --help)\n`)
    return ExitCode.USAGE
  }
  try {
    return await command.run(rest, io)
  } catch (error) {
    const code = error instanceof CliError ? error.exitCode : ExitCode.FAILURE
    if (wantsJson(rest)) io.stdout.write(`${JSON.stringify(jsonError(error))}\n`)
    io.stderr.write(`crust ${command.name}: ${messageOf(error)}\n`)
    if (io.env.CRUST_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`)
    return code
  }
}

async function help(name: string | undefined, io: CliIo): Promise<number> {
  if (name === undefined) {
    io.stdout.write(overview())
    return ExitCode.OK
  }
  const command = await loadCommand(name)
  if (command === undefined) {
    io.stderr.write(`crust: unknown command '${name}' (see crust --help)\n`)
    return ExitCode.USAGE
  }
  io.stdout.write(command.help)
  return ExitCode.OK
}

/** True when the command line asks for JSON output (`--json` before any `--`). */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--json' || arg === '--json=true')
}

