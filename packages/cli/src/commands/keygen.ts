/**
 * `crust keygen`: a new Ed25519 identity key file (PKCS#8 PEM, mode 0600)
 * and its peer id.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { chmod, link, mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { exportPrivateKeyPem, generateIdentityKey, peerIdFromPublicKey } from '@crust/core'
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
    await writeKey(path, exportPrivateKeyPem(privateKey), values.force)
    if (values.json) io.stdout.write(`${JSON.stringify({ peerId, keyFile: path })}\n`)
    else io.stdout.write(`peer id   ${peerId}\nkey file  ${path} (mode 0600)\n`)
    return ExitCode.OK
  },
}

/** Write the PEM to a private temp file, then link it into place (never clobbers) or, with `force`, rename over. */
async function writeKey(path: string, pem: string, force: boolean): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(pem)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await chmod(temp, 0o600) // the umask cannot loosen it, but be explicit
    if (force) await rename(temp, path)
    else await link(temp, path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new FailureError(`${path} already exists; pass --force to replace it (its identity is lost)`)
    throw new FailureError(`cannot write ${path}: ${(error as Error).message}`)
  } finally {
    await rm(temp, { force: true })
  }
}
