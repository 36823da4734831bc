import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AuthenticationError,
  type CertificateAuthority,
  type NodeConfigInput,
  createCertificateAuthority,
  writeNodeCertificateFiles,
} from '@crust/core'
import { beforeAll, describe, expect, it } from 'vitest'
import { contactOf, startNode, waitFor } from './helpers.js'

describe('auth mode peer-id (default)', () => {
  it('connects when the certificate matches the dialled peer id', async () => {
    const a = await startNode()
    const b = await startNode()
    expect((await a.connect(contactOf(b))).peerId).toBe(b.peerId)
  })

  it('refuses a certificate for another key, with a typed error on both sides', async () => {
    const a = await startNode({ retry: { maxAttempts: 1 } })
    const b = await startNode()
    const impostor = await startNode()
    const rejected: Error[] = []
    impostor.on('connection:rejected', ({ error }) => rejected.push(error))
    // a believes b lives at the impostor's address.
    const attempt = a.connect({ peerId: b.peerId, addresses: impostor.addresses })
    await expect(attempt).rejects.toBeInstanceOf(AuthenticationError)
    await waitFor(() => rejected.length > 0, 5000, 'rejection on the listening side')
    expect(rejected[0]).toBeInstanceOf(AuthenticationError)
    expect(a.connections).toHaveLength(0)
    expect(impostor.connections).toHaveLength(0)
  })
})

describe('auth mode none', () => {
  it('encrypts but does not validate: a wrong expected id still connects to whoever answers', async () => {
    const a = await startNode({ auth: { mode: 'none' } })
    const b = await startNode({ auth: { mode: 'none' } })
    const conn = await a.connect({ peerId: 'bciqwrongwrongwrongwrong', addresses: b.addresses })
    expect(conn.peerId).toBe(b.peerId)
  })
})

describe('auth mode ca', () => {
  let dir: string
  let ca: CertificateAuthority
  let otherCa: CertificateAuthority

  /** Write a key and a certificate issued by `authority` to files, as an operator would. */
  async function caNodeConfig(authority: CertificateAuthority, name: string): Promise<Partial<NodeConfigInput>> {
    const files = await writeNodeCertificateFiles(authority, { dir, name })
    return { auth: { mode: 'ca', ca: [ca.certificatePem], ...files } }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crust-ca-'))
    ca = await createCertificateAuthority({ name: 'Crust Test CA' })
    otherCa = await createCertificateAuthority({ name: 'Someone Else CA' })
  })

  it('connects nodes whose certificates chain to the CA', async () => {
    const a = await startNode(await caNodeConfig(ca, 'a'))
    const b = await startNode(await caNodeConfig(ca, 'b'))
    b.handle(() => Buffer.from('hello from a CA-certified node'))
    const conn = await a.connect(contactOf(b))
    expect(conn.peerId).toBe(b.peerId)
    expect(Buffer.from(await conn.request(Buffer.from('hi'))).toString()).toBe('hello from a CA-certified node')
  })

  it('refuses a listener whose certificate comes from another CA, typed on both sides', async () => {
    const a = await startNode({ ...(await caNodeConfig(ca, 'a2')), retry: { maxAttempts: 1 } })
    const rogue = await startNode(await caNodeConfig(otherCa, 'rogue'))
    const rejected: Error[] = []
    rogue.on('connection:rejected', ({ error }) => rejected.push(error))
    await expect(a.connect(contactOf(rogue))).rejects.toBeInstanceOf(AuthenticationError)
    await waitFor(() => rejected.length > 0, 5000, 'rejection on the rogue side')
    expect(rejected[0]).toBeInstanceOf(AuthenticationError)
  })

  it('refuses a dialler whose certificate is self-signed, typed on both sides', async () => {
    const b = await startNode(await caNodeConfig(ca, 'b3'))
    const outsider = await startNode({ retry: { maxAttempts: 1 } }) // peer-id mode: self-signed certificate
    const rejected: Error[] = []
    b.on('connection:rejected', ({ error }) => rejected.push(error))
    await expect(outsider.connect(contactOf(b))).rejects.toBeInstanceOf(AuthenticationError)
    await waitFor(() => rejected.length > 0, 5000, 'rejection on the CA side')
    expect(rejected[0]).toBeInstanceOf(AuthenticationError)
    expect(b.connections).toHaveLength(0)
  })
})
