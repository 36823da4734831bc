/**
 * `@crust/cli`: the `crust` command line, also callable in process.
 *
 * @example
 * ```ts
 * import { runCli, processIo } from '@crust/cli'
 * const code = await runCli(['keygen', '--out', 'id.pem'], processIo(new AbortController().signal))
 * ```
 * @packageDocumentation
 */
export { runCli, overview, COMMANDS } from './cli.js'
export type { Command, CommandEntry } from './command.js'
export { type CliIo, type Output, processIo } from './io.js'
export { CliError, UsageError, FailureError, FileTransferError, ExitCode } from './errors.js'
export { readConfigFile, type ConfigFile } from './config/file.js'
export { buildNodeConfig, type BuiltConfig, type NodeFlags, DEFAULT_NETWORK } from './config/node-config.js'
export { PLUGIN_NAMES, type PluginKind, type PluginSpec } from './config/plugins.js'
export { ControlServer, type ControlHandlers } from './control/server.js'
export { ControlClient, NoNodeError } from './control/client.js'
export type { ControlRequest, ControlAnswer, NodeStatus } from './control/protocol.js'
export { LocalOperations, type NodeOperations, type PingResult, type DeliveredText } from './node/operations.js'
export { parseTarget, type Target } from './node/target.js'
export { type PeerRow, peerRow, renderPeers } from './node/peer-rows.js'
export { Inbox, type InboxOptions, type SavedFile, type RefusedFile } from './files/inbox.js'
export { sendFile, type SentFile, type SendFileOptions, type OpenFileStream, type RetryInfo } from './files/sender.js'
export { FILE_PROTOCOL, FILE_REFUSALS, type FileRefusal } from './files/protocol.js'
export { badFileName } from './files/names.js'
export { renderTable, type Column } from './render/table.js'
export { renderBar, createProgress, type Progress } from './render/progress.js'
export { controlPath, defaultDataDir } from './paths.js'
