/**
 * `crust peers`: the connections of a running `crust start`.
 *
 * @packageDocumentation
 */
import { expectPositionals, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { ControlClient } from '../control/client.js'
import { ExitCode } from '../errors.js'
import type { CliIo } from '../io.js'
import { renderPeers } from '../node/peer-rows.js'
import { controlPath } from '../paths.js'

const HELP = `Usage: crust peers [--control <path>] [--json]

List the connections of a running crust start: peer, transport, direction,
how the connection was made (direct, upnp, punched, relayed), remote address,
bytes sent and received, last round-trip time and how long it has been up.

Options:
  --control <path>   the node's control socket (default: control.sock in --data-dir,
                     else $XDG_RUNTIME_DIR/crust/control.sock, else in the data directory)
  --data-dir <dir>   the node's data directory
  --json             print the rows as one JSON array
  -h, --help         show this help

Example:
  crust peers --control /tmp/alice.sock
`

/** `crust peers` */
export const peersCommand: Command = {
  name: 'peers',
  summary: "list a running node's connections",
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('peers', {
      args: [...args],
      allowPositionals: true,
      options: {
        control: { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('peers', positionals, [])
    const client = await ControlClient.connect(await controlPath({ control: values.control, dataDir: values['data-dir'], cwd: io.cwd, env: io.env }))
    try {
      const rows = await client.peers()
      if (values.json) io.stdout.write(`${JSON.stringify(rows)}\n`)
      else io.stdout.write(`${renderPeers(rows, io.stdout.isTTY ? io.stdout.columns : undefined).join('\n')}\n`)
    } finally {
      await client.close()
    }
    return ExitCode.OK
  },
}
