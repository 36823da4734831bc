/**
 * `crust keygen`: a new Ed25519 identity key file (PKCS#8 PEM, mode 0600)
 * and its peer id.
 *
 * @packageDocumentation
 */
import type { KeyObject } from 'node:crypto'
import { join, resolve } from 'node:path'
import { generateIdentityKey, peerIdFromPublicKey, writeKeyFile, isCrustError } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'
import { expectPositionals, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { ExitCode, FailureError } from '../errors.js'
import type { CliIo } from '../io.js'
import { dataDir } from '../paths.js'

const HELP = `Usage: crust keygen [--out <file>] [--force] [--json]

Write a new identity key (Ed25519, PKCS#8 PEM, mode 0600) and print its peer
id. The peer id is derived from the key: keep the file to keep the id.

Options:
  --out <file>       where to write it (default: identity.pem in the data directory,
                     the key crust start uses when given no --key-file)
  --data-dir <dir>   data directory (default: the platform's, e.g. ~/.local/share/crust)
  --force            replace an existing file (its identity is lost)
  --json             print {"peerId": ..., "keyFile": ...}
  -h, --help         show this help

Examples:
  crust keygen --out alice.pem
  crust start --key-file alice.pem
`

/** `crust keygen` */
export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'write a new identity key file and print its peer id',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('keygen', {
      args: [...args],
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        'data-dir': { type: 'string' },
        force: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('keygen', positionals, [])
    const path = values.out === undefined ? join(await dataDir(values['data-dir'], io.cwd), 'identity.pem') : resolve(io.cwd, values.out)
    const { privateKey } = generateIdentityKey()
    const peerId = peerIdFromPublicKey(privateKey)
    await writeKey(path, privateKey, values.force)
    if (values.json) io.stdout.write(`${JSON.stringify({ peerId, keyFile: path })}\n`)
    else io.stdout.write(`peer id   ${peerId}\nkey file  ${path} (mode 0600)\n`)
    return ExitCode.OK
  },
}

/** Write the key (never clobbering an existing file unless `force`), with the CLI's wording for failures. */
async function writeKey(path: string, privateKey: KeyObject, force: boolean): Promise<void> {
  try {
    await writeKeyFile(path, privateKey, { replace: force })
  } catch (error) {
    const code = isCrustError(error, 'ERR_IDENTITY') ? (error.cause as NodeJS.ErrnoException | undefined)?.code : undefined
    if (code === 'EEXIST') throw new FailureError(`${path} already exists; pass --force to replace it (its identity is lost)`)
    throw new FailureError(`cannot write ${path}: ${errorMessage(error)}`)
  }
}
