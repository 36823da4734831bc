import type { AddressInfo } from 'node:net'
import { connect, createServer, type ConnectionOptions, type TLSSocket, type TlsOptions } from 'node:tls'

/** How one side of a handshake ended. */
export interface Outcome {
  readonly socket?: TLSSocket
  readonly error?: Error
}

/** Both sides of a handshake; `close` releases sockets and the server. */
export interface Handshake {
  readonly server: Outcome
  readonly client: Outcome
  close(): Promise<void>
}

/** The side neither connected nor failed in time: a hang, which no test may count as a refusal. */
export class NoOutcomeError extends Error {
  override readonly name = 'NoOutcomeError'
}

function timeout(ms: number): Promise<Outcome> {
  return new Promise((resolve) => setTimeout(() => resolve({ error: new NoOutcomeError(`no outcome within ${ms} ms`) }), ms).unref())
}

/**
 * Run a real TLS handshake on 127.0.0.1. The server counts as connected on
 * `secureConnection`; the client only once it read the server's first byte,
 * because in TLS 1.3 the client finishes its handshake before the server has
 * checked the client certificate (a rejection arrives as a later alert).
 */
export async function handshake(serverOptions: TlsOptions, clientOptions: ConnectionOptions, ms = 5_000): Promise<Handshake> {
  const server = createServer(serverOptions)
  const accepted: TLSSocket[] = []
  const serverOutcome = new Promise<Outcome>((resolve) => {
    server.on('secureConnection', (socket) => {
      accepted.push(socket)
      socket.on('error', () => {})
      socket.write('hello')
      resolve({ socket })
    })
    server.on('tlsClientError', (error) => resolve({ error }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const client = connect({ ...clientOptions, host: '127.0.0.1', port })
  const clientOutcome = new Promise<Outcome>((resolve) => {
    client.once('data', () => resolve({ socket: client }))
    client.once('error', (error) => resolve({ error }))
    client.once('close', () => resolve({ error: new Error('closed before the server spoke') }))
  })
  const [serverResult, clientResult] = await Promise.all([
    Promise.race([serverOutcome, timeout(ms)]),
    Promise.race([clientOutcome, timeout(ms)]),
  ])
  return {
    server: serverResult,
    client: clientResult,
    close: async () => {
      client.on('error', () => {})
      client.destroy()
      for (const socket of accepted) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** DER of the remote leaf certificate of a connected socket, if it sent one. */
export function remoteCertificate(socket: TLSSocket | undefined): Uint8Array | undefined {
  const raw: Buffer | undefined = socket?.getPeerCertificate(true)?.raw
  return raw
}
