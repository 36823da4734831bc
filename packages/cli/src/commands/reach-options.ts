/**
 * Flags shared by the commands that act through a node (`peers`, `ping`,
 * `send`), and their help text.
 *
 * @packageDocumentation
 */
import { resolve } from 'node:path'
import type { ReachFlags } from '../node/client-node.js'

/** The `parseArgs` options of the shared flags. */
export const REACH_OPTIONS = {
  control: { type: 'string' },
  'data-dir': { type: 'string' },
  direct: { type: 'boolean', default: false },
  config: { type: 'string', short: 'c' },
  network: { type: 'string' },
  'key-file': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const

/** Help text of the shared flags. */
export const REACH_HELP = `How the peer is reached:
  A running crust start is used through its control socket when one answers
  (the node dials the peer, or uses its connection). Otherwise, when <peer>
  has an address, a short-lived client node (role client, throw-away
  identity) is started in this process to dial it, and stopped after.

  --control <path>   the running node's control socket (it must answer)
                     (default: control.sock in --data-dir, else
                     $XDG_RUNTIME_DIR/crust/control.sock, else in the data directory)
  --data-dir <dir>   data directory of the running node
  --direct           do not use a running node: dial from a client node
  --config <file>    config of the client node (network name, auth, transports)
  --network <name>   network of the client node (default: crust)
  --key-file <file>  identity of the client node (default: a throw-away key)
  --json             machine-readable output, one JSON object per line
  -h, --help         show this help

<peer> is peerId@address (e.g. bciq…@tcp://192.0.2.7:4001; several addresses
separated by commas), a bare address (whoever answers there), or a peer id or
its first characters for a peer the running node is connected to.
`

/** The shared flags as {@link ReachFlags}, paths resolved against `cwd`. */
export function reachFlags(
  values: { control?: string; 'data-dir'?: string; direct?: boolean; config?: string; network?: string; 'key-file'?: string },
  cwd: string,
): ReachFlags {
  return {
    ...(values.control === undefined ? {} : { control: values.control }),
    ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
    direct: values.direct === true,
    ...(values.config === undefined ? {} : { config: values.config }),
    ...(values.network === undefined ? {} : { network: values.network }),
    ...(values['key-file'] === undefined ? {} : { keyFile: resolve(cwd, values['key-file']) }),
  }
}
