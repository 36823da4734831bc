// The implementations whose connects the bench times (connect-solo.mjs, profile-connect.mjs): how
// each one's server child is started (quic-bench.mjs's server mode) and how its client connects.
//
//   crust-quic    two Crust nodes over quic(): QUIC + TLS with client certificates, peer id check, HELLO/WELCOME
//   bare-default  @matrixai/quic as published, default config, no client certificate
//   bare-patched  the same on @crust/quic-lib
//   bare-mtls     published, mutual TLS with Crust's certificate check on both sides
import { randomFillSync } from 'node:crypto'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { mtlsCheck } from './mtls-check.mjs'

export const ARMS = ['crust-quic', 'bare-default', 'bare-patched', 'bare-mtls']

const silentLogger = { debug() {}, info() {}, warn() {}, error() {}, getChild: () => silentLogger }
const crypto = { ops: { randomBytes: async (a) => void randomFillSync(new Uint8Array(a)) } }

/** The library a bare arm runs on. */
const entryOf = (arm) => fileURLToPath(import.meta.resolve(arm === 'bare-patched' ? '@crust/quic-lib' : '@matrixai/quic'))

/** The server child's `start` command for `arm`. */
export function serverStart(arm) {
  return arm === 'crust-quic' ? { cmd: 'start', impl: arm } : { cmd: 'start', impl: arm, entry: entryOf(arm), mtls: arm === 'bare-mtls' }
}

/** `{ connect, close, stop }` of `arm`'s client, against its server's reply to {@link serverStart} (`info`). */
export async function clientFor(arm, info) {
  if (arm === 'crust-quic') {
    const { createNode } = await import('@crust/core')
    const { quic } = await import('../dist/index.js')
    const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
    await node.start()
    const contact = { peerId: info.peerId, addresses: info.addresses }
    return { connect: () => node.connect(contact), close: (c) => c.close(), stop: () => node.stop() }
  }
  const lib = await import(pathToFileURL(entryOf(arm)).href)
  const socket = new lib.QUICSocket({ logger: silentLogger })
  await socket.start({ host: '127.0.0.1', port: 0 })
  let config = { verifyPeer: false }
  if (arm === 'bare-mtls') {
    const { createIdentity } = await import('@crust/core/plugin')
    const { identity } = await createIdentity({})
    config = { key: identity.privateKeyPem, cert: identity.certificatePem, verifyPeer: true, verifyCallback: mtlsCheck(identity) }
  }
  return {
    connect: () => lib.QUICClient.createQUICClient({ host: '127.0.0.1', port: info.port, socket, crypto, logger: silentLogger, config }),
    close: (c) => c.destroy({ force: true }),
    stop: () => socket.stop({ force: true }),
  }
}
