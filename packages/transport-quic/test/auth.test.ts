import {
  AuthenticationError,
  type CertificateAuthority,
  CloseCode,
  type SecurityContext,
  type TransportConnection,
  createCertificateAuthority,
  exportPrivateKeyPem,
  generateIdentityKey,
  issueCertificate,
  peerIdFromPublicKey,
} from '@crust/core'
import { createSecurityContext } from '@crust/core/plugin'
import { beforeAll, describe, expect, it } from 'vitest'
import { type TestTransport, makeTransport, waitFor } from './helpers.js'

/** The dialler's view of a refusal: a rejected dial, or a connection that closes with AUTH_FAILED right away. */
async function expectRefusedDial(dialing: Promise<TransportConnection>): Promise<void> {
  const outcome = await dialing.then(
    async (conn) => (await conn.closed).code,
    (error: unknown) => error,
  )
  if (typeof outcome === 'number') expect(outcome).toBe(CloseCode.AUTH_FAILED)
  else expect(outcome).toBeInstanceOf(AuthenticationError)
}

/** The listener's view: an AuthenticationError reported before handover, or a handed-over connection closed with AUTH_FAILED. */
async function expectRefusedInbound(server: TestTransport): Promise<void> {
  await waitFor(() => server.failures.length + server.inbound.length > 0, 5000, 'the listener to see the attempt')
  if (server.failures.length > 0) expect(server.failures[0]!.error).toBeInstanceOf(AuthenticationError)
  else expect((await server.inbound[0]!.closed).code).toBe(CloseCode.AUTH_FAILED)
}

async function caSecurity(authority: CertificateAuthority, trusted: CertificateAuthority, name: string): Promise<SecurityContext> {
  const { privateKey } = generateIdentityKey()
  const certificatePem = await issueCertificate(authority, { privateKey, name })
  return createSecurityContext(
    { peerId: peerIdFromPublicKey(privateKey), privateKey, privateKeyPem: exportPrivateKeyPem(privateKey), certificatePem },
    { mode: 'ca', ca: [trusted.certificatePem] },
  )
}

describe('auth mode peer-id (transport)', () => {
  it('connects when the certificate matches the expected peer id', async () => {
    const server = await makeTransport()
    const client = await makeTransport({ listen: false })
    const conn = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId })
    expect(conn.remotePeer.peerId).toBe(server.security.peerId)
    expect(conn.remotePeer.certificate).toBeInstanceOf(Uint8Array)
  })

  it('refuses a listener with another key: AuthenticationError on both sides', async () => {
    const server = await makeTransport()
    const client = await makeTransport({ listen: false })
    const someoneElse = await makeTransport({ listen: false })
    const dialing = client.transport.dial(server.address(), { expectedPeerId: someoneElse.security.peerId })
    await expect(dialing).rejects.toBeInstanceOf(AuthenticationError)
    await expect(dialing).rejects.toThrow(/expected|Expected/)
    await expectRefusedInbound(server)
  })
})

describe('auth mode none (transport)', () => {
  it('accepts any certificate, whatever peer id was expected', async () => {
    const server = await makeTransport({ mode: 'none' })
    const client = await makeTransport({ mode: 'none', listen: false })
    const conn = await client.transport.dial(server.address(), { expectedPeerId: 'bciqsomeoneelse' })
    expect(conn.remotePeer.peerId).toBe(server.security.peerId)
  })
})

describe('auth mode ca (transport)', () => {
  let ca: CertificateAuthority
  let rogueCa: CertificateAuthority
  beforeAll(async () => {
    ca = await createCertificateAuthority({ name: 'Crust QUIC Test CA' })
    rogueCa = await createCertificateAuthority({ name: 'Rogue CA' })
  })

  it('connects peers whose certificates chain to the CA', async () => {
    const server = await makeTransport({ security: await caSecurity(ca, ca, 'server') })
    const client = await makeTransport({ security: await caSecurity(ca, ca, 'client'), listen: false })
    const conn = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId })
    expect(conn.remotePeer.peerId).toBe(server.security.peerId)
    await waitFor(() => server.inbound.length === 1)
    expect(server.inbound[0]!.remotePeer.peerId).toBe(client.security.peerId)
  })

  it('refuses a listener certified by another CA, on both sides', async () => {
    const server = await makeTransport({ security: await caSecurity(rogueCa, ca, 'rogue') })
    const client = await makeTransport({ security: await caSecurity(ca, ca, 'client'), listen: false })
    await expect(client.transport.dial(server.address())).rejects.toThrow(/trusted CA/)
    await expectRefusedInbound(server)
  })

  it('refuses a dialler with a self-signed certificate after it thought it was connected, on both sides', async () => {
    const server = await makeTransport({ security: await caSecurity(ca, ca, 'server') })
    // A peer-id mode node: self-signed, and it accepts the CA-issued server certificate.
    const client = await makeTransport({ mode: 'none', listen: false })
    await expectRefusedDial(client.transport.dial(server.address()))
    await waitFor(() => server.failures.length === 1)
    expect(server.failures[0]!.error).toBeInstanceOf(AuthenticationError)
    expect(server.inbound).toHaveLength(0)
    await waitFor(() => server.released === 1, 5000, 'gate release')
  })

  it('refuses a right-CA certificate for the wrong peer id', async () => {
    const server = await makeTransport({ security: await caSecurity(ca, ca, 'server') })
    const client = await makeTransport({ security: await caSecurity(ca, ca, 'client'), listen: false })
    await expect(client.transport.dial(server.address(), { expectedPeerId: client.security.peerId })).rejects.toBeInstanceOf(
      AuthenticationError,
    )
  })
})

// The auth modes through createNode (none, peer-id, ca): the node compliance suite (node-compliance.test.ts).
