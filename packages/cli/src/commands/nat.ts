/**
 * `crust nat`: what stands between this machine and the internet, in plain
 * words: UPnP gateway, reflexive address, NAT type, reachability.
 *
 * @packageDocumentation
 */
import { durationFlag, expectPositionals, intFlag, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { DEFAULT_NETWORK } from '../config/node-config.js'
import { ExitCode, UsageError } from '../errors.js'
import type { CliIo } from '../io.js'
import { diagnose } from '../nat/diagnose.js'
import { reachability, renderDiagnosis } from '../nat/report.js'
import { parseTarget } from '../node/target.js'

const HELP = `Usage: crust nat [--stun <host:port>]... [--contact <peer@addr>] [--upnp-timeout <duration>] [--json]

Diagnose the NAT in plain words. A short-lived node listens on TCP and UDP
(QUIC), looks for a UPnP gateway and asks it for test mappings (removed
again on exit), asks the STUN servers given where they see its UDP socket
and classifies the NAT's mapping behaviour (two servers at different IPs, or
one with an alternate address), and says how peers on the internet can
reach this machine. Without a STUN server or a peer it cannot tell the NAT
type, and says so.

Options:
  --stun <host:port>        STUN server, repeatable (e.g. stun.l.google.com:19302)
  --contact <peer@addr>     also ask this peer where it sees us (peerId@address)
  --upnp-timeout <duration> how long to wait for a UPnP gateway (default 2s)
  --port <n>                port to listen on, TCP and UDP (default: any free port)
  --network <name>          network name, for --contact (default: crust)
  --json                    print the findings as one JSON object
  -h, --help                show this help

Examples:
  crust nat
  crust nat --stun stun.l.google.com:19302 --stun stun1.l.google.com:19302
`

/** `crust nat` */
export const natCommand: Command = {
  name: 'nat',
  summary: 'diagnose the NAT: reflexive address, NAT type, UPnP, reachability',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('nat', {
      args: [...args],
      allowPositionals: true,
      options: {
        stun: { type: 'string', multiple: true },
        contact: { type: 'string' },
        'upnp-timeout': { type: 'string' },
        port: { type: 'string' },
        network: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('nat', positionals, [])
    const contact = values.contact === undefined ? undefined : parseTarget(values.contact)
    if (contact !== undefined && contact.addresses.length === 0) throw new UsageError('--contact needs an address: peerId@tcp://host:port')
    const diagnosis = await diagnose({
      stunServers: values.stun ?? [],
      upnpTimeout: durationFlag('upnp-timeout', values['upnp-timeout'], 2_000),
      port: intFlag('port', values.port, 0, { min: 0, max: 65_535 }),
      networkName: values.network ?? DEFAULT_NETWORK,
      signal: io.interrupt,
      ...(contact === undefined ? {} : { contact }),
    })
    if (values.json) io.stdout.write(`${JSON.stringify({ ...diagnosis, reachability: reachability(diagnosis) })}\n`)
    else io.stdout.write(renderDiagnosis(diagnosis))
    return ExitCode.OK
  },
}
