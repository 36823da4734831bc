/** `crust keygen`: a 0600 key file whose peer id `crust start` then uses. */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { isPeerId, loadKeyFile, peerIdFromPublicKey } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { crust, tempDir } from './helpers.js'

describe('crust keygen', () => {
  it('writes a 0600 key and prints its peer id; refuses to overwrite without --force', async () => {
    const dir = await tempDir()
    const out = join(dir, 'keys', 'id.pem')
    const run = await crust(['keygen', '--out', out])
    expect(run.code).toBe(0)
    const peerId = /^peer id\s+(\S+)$/m.exec(run.stdout)?.[1]
    expect(isPeerId(peerId)).toBe(true)
    expect(run.stdout).toContain(`key file  ${out} (mode 0600)`)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    expect(peerIdFromPublicKey(await loadKeyFile(out))).toBe(peerId)

    const again = await crust(['keygen', '--out', out])
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(`crust keygen: ${out} already exists; pass --force to replace it (its identity is lost)\n`)
    expect(await readFile(out, 'utf8')).toContain('PRIVATE KEY')

    const forced = await crust(['keygen', '--out', out, '--force', '--json'])
    const json = JSON.parse(forced.stdout) as { peerId: string; keyFile: string }
    expect(json.keyFile).toBe(out)
    expect(json.peerId).not.toBe(peerId)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
  })
})
