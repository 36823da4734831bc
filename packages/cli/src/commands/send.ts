/**
 * `crust send <peer> <text|--file path>`: a text message, or a file streamed
 * over the file protocol, which the receiving `crust start --inbox` saves
 * once its SHA-256 matches; resumed after a lost connection.
 *
 * @packageDocumentation
 */
import { basename, resolve } from 'node:path'
import { expectPositionals, intFlag, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { ExitCode, UsageError } from '../errors.js'
import type { RetryInfo } from '../files/sender.js'
import type { CliIo } from '../io.js'
import { reachNetwork } from '../node/client-node.js'
import { parseTarget } from '../node/target.js'
import { formatBytes, formatDuration, formatPeer } from '../render/format.js'
import { createProgress, type Progress } from '../render/progress.js'
import { REACH_HELP, REACH_OPTIONS, reachFlags } from './reach-options.js'

const HELP = `Usage: crust send <peer> <text...> [options]
       crust send <peer> --file <path> [--name <name>] [options]    (or: crust send <peer> @<path>)

Send a text message, or a file. Words after <peer> are joined with spaces
into one message; --file <path> (or @path) sends the file at path. (--text
sends text that starts with @.)

A text is one request: the peer's answer confirms it arrived. A file is
streamed on one /crust/file/1 stream at the pace the receiver takes it
(constant memory, any size), and its SHA-256 is sent last: the receiving
crust start (which needs --inbox, and --allow for this node's peer id) keeps
a partial file, checks the hash and says where it saved the file. A lost
connection is retried, resuming where the receiver's partial file ends.
Progress: a bar on stderr when it is a terminal, else a line per 25 %;
with --json, {"type":"progress"} lines, {"type":"retry"} lines and a
{"type":"file"} summary.

Options:
  --file <path>            the file to send
  --name <name>            save it under this name (default: the file's name;
                           the receiver refuses paths and hidden names)
  --retries <n>            retries after a lost connection without progress in
                           between (default 5; 0: fail at once)
  --text                   treat the argument as text even if it starts with @

${REACH_HELP}
Examples:
  crust send bciqabcd "hello there"
  crust send bciq…@tcp://192.0.2.7:4001 --file holiday.mp4
`

/** `crust send` */
export const sendCommand: Command = {
  name: 'send',
  summary: 'send a text message or a file to a peer',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('send', {
      args: [...args],
      allowPositionals: true,
      options: {
        ...REACH_OPTIONS,
        text: { type: 'boolean', default: false },
        file: { type: 'string' },
        name: { type: 'string' },
        retries: { type: 'string' },
      },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    let filePath = values.file
    if (filePath === undefined) {
      expectPositionals('send', positionals.slice(0, 2), ['peer', 'text|@file'])
      const words = positionals.slice(1).join(' ')
      if (words.startsWith('@') && !values.text) filePath = words.slice(1)
    } else {
      expectPositionals('send', positionals, ['peer'])
    }
    if (filePath === undefined && (values.name !== undefined || values.retries !== undefined)) {
      throw new UsageError('--name and --retries go with a file (--file <path>)')
    }
    const peer = positionals[0] as string
    const retries = intFlag('retries', values.retries, 5, { min: 0, max: 1000 })
    const target = parseTarget(peer)
    const operations = await reachNetwork(reachFlags(values, io.cwd), target, io)
    try {
      if (filePath === undefined) {
        const message = positionals.slice(1).join(' ')
        const delivered = await operations.sendText(peer, message, { signal: io.interrupt })
        if (values.json) io.stdout.write(`${JSON.stringify({ type: 'text', ...delivered })}\n`)
        else io.stdout.write(`delivered ${formatBytes(delivered.bytes)} to ${formatPeer(delivered.peerId)} over ${delivered.transport}\n`)
        return ExitCode.OK
      }
      const path = resolve(io.cwd, filePath)
      const view = values.json ? jsonView(io) : textView(io, `sending ${values.name ?? basename(path)}`)
      const sent = await operations.sendFile(peer, path, {
        signal: io.interrupt,
        retries,
        ...(values.name === undefined ? {} : { name: values.name }),
        onProgress: view.progress,
        onRetry: view.retry,
      })
      view.done()
      if (values.json) {
        io.stdout.write(`${JSON.stringify({ type: 'file', ...sent })}\n`)
      } else {
        const rate = sent.ms > 0 ? `, ${formatBytes((sent.size / sent.ms) * 1000)}/s` : ''
        const resumed = sent.attempts > 1 ? ` (${sent.attempts} attempts; the last resumed at ${formatBytes(sent.resumedFrom)})` : ''
        io.stdout.write(
          `sent ${sent.name} (${formatBytes(sent.size)}) to ${formatPeer(sent.peerId)} over ${sent.transport} in ${formatDuration(sent.ms)}${rate}${resumed}\n` +
            `the receiver saved it as ${sent.savedAs}, SHA-256 verified (${sent.sha256})\n`,
        )
      }
      return ExitCode.OK
    } finally {
      await operations.close()
    }
  },
}

/** How a file transfer is shown while it runs. */
interface TransferView {
  progress(sent: number, total: number): void
  retry(retry: RetryInfo): void
  done(): void
}

/** A bar on a terminal's stderr (else a line per 25 % on stdout); retries on stderr. */
function textView(io: CliIo, label: string): TransferView {
  const out = io.stderr.isTTY ? io.stderr : io.stdout
  let progress: Progress | undefined
  return {
    progress(sent, total) {
      progress ??= createProgress(out, label, total)
      progress.update(sent)
    },
    retry(retry) {
      progress?.done()
      progress = undefined
      io.stderr.write(`connection lost after ${formatBytes(retry.sent)} (${retry.reason}); resuming in ${formatDuration(retry.delay)} (attempt ${retry.attempt})\n`)
    },
    done() {
      progress?.done()
    },
  }
}

/** JSON lines on stdout: progress at most every 250 ms (and at the end), and each retry. */
function jsonView(io: CliIo): TransferView {
  let last = Number.NEGATIVE_INFINITY
  return {
    progress(sent, total) {
      const now = performance.now()
      if (sent < total && now - last < 250) return
      last = now
      io.stdout.write(`${JSON.stringify({ type: 'progress', sent, total })}\n`)
    },
    retry(retry) {
      io.stdout.write(`${JSON.stringify({ type: 'retry', ...retry })}\n`)
    },
    done() {},
  }
}
