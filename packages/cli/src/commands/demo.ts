/**
 * `crust demo`: the README's first command (`pnpm demo`).
 *
 * @packageDocumentation
 */
import { expectPositionals, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { runDemo } from '../demo/scenario.js'
import { ExitCode, FailureError, messageOf } from '../errors.js'
import type { CliIo } from '../io.js'

const HELP = `Usage: crust demo

Start several real Crust nodes on this machine, with no configuration, and
narrate what they do: find each other by LAN beacon (loopback mode: nothing
leaves the machine), connect over TCP + TLS 1.3, fall back to QUIC when a
node's TCP port is firewalled, exchange messages and requests, blacklist a
peer (its connection closes at once), and re-join from the bootstrap cache
after a restart. Keys and caches live in a temp directory that is removed at
the end. Takes a few seconds; exits 0.

Options:
  -h, --help   show this help
`

/** `crust demo` */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'several real nodes on this machine: discovery, TCP, QUIC fallback, blacklist, re-join',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('demo', {
      args: [...args],
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h' } },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('demo', positionals, [])
    try {
      await runDemo(io.stdout)
    } catch (error) {
      throw new FailureError(`the demo failed: ${messageOf(error)}`)
    }
    return ExitCode.OK
  },
}
