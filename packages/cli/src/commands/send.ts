/**
 * `crust send <peer> <text|@file>`: a text message, or a file in 1 MiB
 * chunks that the receiving `crust start` reassembles, verifies and saves.
 *
 * @packageDocumentation
 */
import { resolve } from 'node:path'
import { expectPositionals, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { ExitCode } from '../errors.js'
import type { CliIo } from '../io.js'
import { reachNetwork } from '../node/client-node.js'
import { parseTarget } from '../node/target.js'
import { formatBytes, formatDuration, formatPeer } from '../render/format.js'
import { createProgress, type Progress } from '../render/progress.js'
import { REACH_HELP, REACH_OPTIONS, reachFlags } from './reach-options.js'

const HELP = `Usage: crust send <peer> <text...|@file> [options]

Send a text message, or a file. Words after <peer> are joined with spaces
into one message; @path sends the file at path. (--text sends text that
starts with @.)

A text is one request: the peer's answer confirms it arrived. A file goes
in 1 MiB chunks, four in flight, each acknowledged; the receiving crust start
writes it to its inbox, checks its SHA-256 and says where it saved it. On a
terminal a progress bar is shown, elsewhere a line per 25 %.

Options:
  --text                   treat the argument as text even if it starts with @

${REACH_HELP}
Examples:
  crust send bciqabcd "hello there"
  crust send bciq…@tcp://192.0.2.7:4001 @holiday.mp4
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
      options: { ...REACH_OPTIONS, text: { type: 'boolean', default: false } },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('send', positionals.slice(0, 2), ['peer', 'text|@file'])
    const [text, ...words] = positionals as [string, ...string[]]
    const message = words.join(' ')
    const target = parseTarget(text)
    const isFile = message.startsWith('@') && !values.text
    const operations = await reachNetwork(reachFlags(values, io.cwd), target, io)
    try {
      if (!isFile) {
        const delivered = await operations.sendText(text, message, { signal: io.interrupt })
        if (values.json) io.stdout.write(`${JSON.stringify({ type: 'text', ...delivered })}\n`)
        else io.stdout.write(`delivered ${formatBytes(delivered.bytes)} to ${formatPeer(delivered.peerId)} over ${delivered.transport}\n`)
        return ExitCode.OK
      }
      const path = resolve(io.cwd, message.slice(1))
      let progress: Progress | undefined
      const sent = await operations.sendFile(text, path, {
        signal: io.interrupt,
        onProgress: values.json
          ? undefined
          : (done, total) => {
              progress ??= createProgress(io.stdout, `sending ${path.split(/[\\/]/).pop()}`, total)
              progress.update(done)
            },
      })
      progress?.done()
      if (values.json) {
        io.stdout.write(`${JSON.stringify({ type: 'file', ...sent })}\n`)
      } else {
        const rate = sent.ms > 0 ? `, ${formatBytes((sent.size / sent.ms) * 1000)}/s` : ''
        io.stdout.write(
          `sent ${sent.name} (${formatBytes(sent.size)}) to ${formatPeer(sent.peerId)} over ${sent.transport} in ${formatDuration(sent.ms)}${rate}\n` +
            `the receiver saved it as ${sent.savedAs}, SHA-256 verified (${sent.sha256})\n`,
        )
      }
      return ExitCode.OK
    } finally {
      await operations.close()
    }
  },
}
