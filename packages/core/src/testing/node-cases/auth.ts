import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import type { Connection } from '../../connection/connection.js'
import type { NodeConfigInput } from '../../config/schema.js'
import { peerIdFromPublicKey } from '../../identity/peer-id.js'
import type { CrustNode } from '../../node.js'
import { AUTHENTICATION_ERROR, type NodeCase } from '../node-case.js'
import type { NodeScope } from '../node-scope.js'
import { contactOf, waitFor } from '../nodes.js'
import { assertTypedError, rejection } from '../util.js'

/** A dialler that tries once, so a refusal reaches the caller without retries. */
const ONCE: Partial<NodeConfigInput> = { retry: { maxAttempts: 1 } }

/** Record the errors of `node`'s refused inbound or outbound attempts. */
function rejections(node: CrustNode): Error[] {
  const errors: Error[] = []
  node.on('connection:rejected', ({ error }) => errors.push(error))
  return errors
}

/**
 * `dialling` must reject with AuthenticationError on the dialler, and
 * `listener` must report an AuthenticationError for the attempt and pool
 * nothing from it.
 */
async function refusedOnBothSides(
  scope: NodeScope,
  dialling: Promise<Connection>,
  listener: CrustNode,
  listenerRejections: Error[],
  what: string,
): Promise<void> {
  const error = await rejection(dialling, scope.eventTimeout * 2, `${what}: the dial`, (connection) => connection.close())
  assertTypedError(error, AUTHENTICATION_ERROR, `${what}: the dialler's error`)
  await waitFor(() => listenerRejections.length > 0, scope.eventTimeout, `${what}: connection:rejected on the listener`)
  assertTypedError(listenerRejections[0], AUTHENTICATION_ERROR, `${what}: the listener's error`)
  assert.equal(listener.connections.length, 0, `${what}: the listener pooled nothing`)
}

/** The three auth modes, configured through `createNode` as users do. */
export const authCases: readonly NodeCase[] = [
  {
    name: "auth none: encrypts but does not validate: a wrong expected peer id still connects to whoever answers",
    async body(scope) {
      const a = await scope.node({ auth: { mode: 'none' } })
      const b = await scope.node({ auth: { mode: 'none' } })
      // Well-formed (a malformed id is refused before any dial), but not b's.
      const wrong = peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)
      const connection = await a.connect({ peerId: wrong, addresses: b.addresses })
      assert.equal(connection.peerId, b.peerId, 'the connection is to whoever answered')
    },
  },
  {
    name: 'auth peer-id: a listener whose key is not the expected peer id is refused, AuthenticationError on both sides',
    async body(scope) {
      const a = await scope.node(ONCE)
      const b = await scope.node()
      const impostor = await scope.node()
      const rejected = rejections(impostor)
      // a believes b lives at the impostor's address.
      await refusedOnBothSides(scope, a.connect({ peerId: b.peerId, addresses: impostor.addresses }), impostor, rejected, 'impostor')
      assert.equal(a.connections.length, 0, 'the dialler pooled nothing')
    },
  },
  {
    name: 'auth ca: nodes certified by the trusted CA connect and exchange a request',
    async body(scope) {
      const { trusted } = await scope.ca()
      const a = await scope.node(await scope.caAuth(trusted, trusted))
      const b = await scope.node(await scope.caAuth(trusted, trusted))
      b.handle(() => Buffer.from('hello from a CA-certified node'))
      const connection = await a.connect(contactOf(b))
      assert.equal(connection.peerId, b.peerId)
      assert.equal(Buffer.from(await connection.request(Buffer.from('hi'))).toString(), 'hello from a CA-certified node')
    },
  },
  {
    name: 'auth ca: a listener certified by another CA is refused, AuthenticationError on both sides',
    async body(scope) {
      const { trusted, rogue } = await scope.ca()
      const a = await scope.node({ ...(await scope.caAuth(trusted, trusted)), ...ONCE })
      const impostor = await scope.node(await scope.caAuth(rogue, trusted))
      const rejected = rejections(impostor)
      await refusedOnBothSides(scope, a.connect(contactOf(impostor)), impostor, rejected, 'rogue-CA listener')
    },
  },
  ...(['none', 'peer-id'] as const).map(
    (mode): NodeCase => ({
      name: `auth ca: a dialler with a self-signed certificate (auth ${mode}) is refused, AuthenticationError on both sides`,
      async body(scope) {
        const { trusted } = await scope.ca()
        const b = await scope.node(await scope.caAuth(trusted, trusted))
        const outsider = await scope.node({ auth: { mode }, ...ONCE })
        const rejected = rejections(b)
        await refusedOnBothSides(scope, outsider.connect(contactOf(b)), b, rejected, 'self-signed dialler')
      },
    }),
  ),
]
