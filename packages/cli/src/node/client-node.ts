/**
 * Where `crust ping` and `crust send` get a node from: the running `crust
 * start` behind the control socket, or else a short-lived client node that
 * dials the peer's address itself.
 *
 * @packageDocumentation
 */
import { createNode } from '@crust/core'
import { readConfigFile } from '../config/file.js'
import { buildNodeConfig } from '../config/node-config.js'
import { PLUGIN_NAMES } from '../config/plugins.js'
import { ControlClient, NoNodeError } from '../control/client.js'
import { FailureError, messageOf, UsageError } from '../errors.js'
import type { CliIo } from '../io.js'
import { controlPath, dataDir } from '../paths.js'
import { LocalOperations, type NodeOperations } from './operations.js'
import { type Target, transportsOf } from './target.js'

/** The flags that choose how a client command reaches the network. */
export interface ReachFlags {
  /** `--control`: the running node's socket (it must answer). */
  readonly control?: string
  /** `--data-dir` */
  readonly dataDir?: string
  /** `--direct`: do not use a running node. */
  readonly direct?: boolean
  /** `--config`: network name, auth and transports of a short-lived client node. */
  readonly config?: string
  /** `--network` of a short-lived client node. */
  readonly network?: string
  /** `--key-file` of a short-lived client node (default: a throw-away identity). */
  readonly keyFile?: string
}

/**
 * The operations for a command: through the running node's control socket
 * when one answers (and `--direct` is not set); otherwise, when the target
 * has an address, from a short-lived client node (role `client`).
 *
 * @throws FailureError when neither is possible.
 */
export async function reachNetwork(flags: ReachFlags, target: Target, io: CliIo): Promise<NodeOperations> {
  const hasAddress = target.addresses.length > 0
  if (flags.direct && !hasAddress) throw new UsageError('--direct needs the peer with an address: peerId@tcp://host:port')
  if (!flags.direct) {
    const path = await controlPath({ control: flags.control, dataDir: flags.dataDir, cwd: io.cwd, env: io.env })
    try {
      return await ControlClient.connect(path)
    } catch (error) {
      if (!(error instanceof NoNodeError)) throw error
      if (flags.control !== undefined) throw error // a socket named explicitly must answer
      if (!hasAddress) throw new FailureError(`${error.message}; or give the peer's address: peerId@tcp://host:port`)
    }
  }
  return startClientNode(flags, target, io)
}

async function startClientNode(flags: ReachFlags, target: Target, io: CliIo): Promise<NodeOperations> {
  // A client node can only dial what a transport of the CLI serves: anything else is the user's mistake.
  const unusable = transportsOf(target).filter((transport) => !PLUGIN_NAMES.transports.includes(transport))
  if (unusable.length > 0 && unusable.length === transportsOf(target).length) {
    const how = flags.direct ? '--direct dials' : 'a client node dials'
    throw new UsageError(`${how} ${PLUGIN_NAMES.transports.map((t) => `${t}://`).join(' and ')} addresses; ${target.addresses.join(', ')} has no such transport`)
  }
  const file = flags.config === undefined ? undefined : await readConfigFile(flags.config, io.cwd)
  const { input } = await buildNodeConfig(file, {
    client: true,
    dataDir: await dataDir(flags.dataDir, io.cwd),
    transports: transportsOf(target),
    ...(flags.network === undefined ? {} : { network: flags.network }),
    ...(flags.keyFile === undefined ? {} : { keyFile: flags.keyFile }),
  })
  const node = await createNode(input)
  try {
    await node.start()
  } catch (error) {
    throw new FailureError(`cannot start a client node: ${messageOf(error)}`)
  }
  return new LocalOperations(node, true)
}
