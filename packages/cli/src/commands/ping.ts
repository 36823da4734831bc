/**
 * `crust ping <peer>`: round-trip times over the core's ping protocol.
 *
 * @packageDocumentation
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { durationFlag, expectPositionals, intFlag, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { ExitCode } from '../errors.js'
import type { CliIo } from '../io.js'
import { reachNetwork } from '../node/client-node.js'
import type { PingResult } from '../node/operations.js'
import { parseTarget } from '../node/target.js'
import { formatPeer, formatRtt } from '../render/format.js'
import { REACH_HELP, REACH_OPTIONS, reachFlags } from './reach-options.js'

const HELP = `Usage: crust ping <peer> [--count <n>] [--interval <duration>] [options]

Measure the round-trip time to a peer (the core's ping protocol, over the
connection's transport), --count times.

Options:
  --count <n>              pings to send (default 3)
  --interval <duration>    time between pings, e.g. 500ms or 1s (default 500ms)

With --json: one {"seq", "peerId", "rtt", ...} line per reply, then
{"summary": {"replies", "rtt": {"min", "avg", "max"}}}; a failure prints
{"error": {"code", "message"}} instead (as every command does with --json).

${REACH_HELP}
Examples:
  crust ping bciq…@tcp://192.0.2.7:4001
  crust ping bciqabcd --control /tmp/alice.sock
`

/** `crust ping` */
export const pingCommand: Command = {
  name: 'ping',
  summary: 'measure the round-trip time to a peer',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('ping', {
      args: [...args],
      allowPositionals: true,
      options: { ...REACH_OPTIONS, count: { type: 'string', short: 'n' }, interval: { type: 'string' } },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('ping', positionals, ['peer'])
    const count = intFlag('count', values.count, 3, { min: 1, max: 1_000_000 })
    const interval = durationFlag('interval', values.interval, 500)
    const text = positionals[0] as string
    const target = parseTarget(text)
    const operations = await reachNetwork(reachFlags(values, io.cwd), target, io)
    const results: PingResult[] = []
    try {
      for (let seq = 1; seq <= count && !io.interrupt.aborted; seq++) {
        if (seq > 1) await sleep(interval, undefined, { signal: io.interrupt }).catch(() => {})
        if (io.interrupt.aborted) break
        const result = await operations.ping(text, { signal: io.interrupt })
        results.push(result)
        if (values.json) io.stdout.write(`${JSON.stringify({ seq, ...result })}\n`)
        else io.stdout.write(`reply from ${formatPeer(result.peerId)} over ${result.transport} (${result.method}): seq=${seq} rtt=${formatRtt(result.rtt)}\n`)
      }
    } finally {
      await operations.close()
    }
    const rtts = results.map((r) => r.rtt)
    const average = rtts.reduce((a, b) => a + b, 0) / Math.max(1, rtts.length)
    if (values.json) {
      // The last line sums the run up, as the text output does.
      const rtt = rtts.length === 0 ? null : { min: Math.min(...rtts), avg: average, max: Math.max(...rtts) }
      io.stdout.write(`${JSON.stringify({ summary: { replies: results.length, rtt } })}\n`)
    } else if (results.length > 1) {
      io.stdout.write(
        `${results.length} replies, rtt min/avg/max ${formatRtt(Math.min(...rtts))} / ${formatRtt(average)} / ${formatRtt(Math.max(...rtts))}\n`,
      )
    }
    return io.interrupt.aborted ? ExitCode.INTERRUPTED : ExitCode.OK
  },
}
