import type { NodeScope } from './node-scope.js'
import type { ExpectedError } from './util.js'

/** One node-level compliance case: its body runs against a fresh {@link NodeScope}. */
export interface NodeCase {
  readonly name: string
  /** Overall budget for the runner (ms); the body's own waits are shorter. */
  readonly timeoutMs?: number
  body(scope: NodeScope, settings: NodeSuiteSettings): Promise<void>
}

/** Tunables of the node suite, with defaults filled in. */
export interface NodeSuiteSettings {
  /** How long to wait for something that should happen promptly (ms). */
  readonly eventTimeout: number
  /** What `Connection.transport` must be for connections made by the transports under test, if given. */
  readonly transportId: string | undefined
}

/** The typed errors the node suite expects, matched by name and code (not `instanceof`). */
export const AUTHENTICATION_ERROR: ExpectedError = { name: 'AuthenticationError', code: 'ERR_AUTHENTICATION' }
export const PROTOCOL_ERROR: ExpectedError = { name: 'ProtocolError', code: 'ERR_PROTOCOL' }
