/**
 * Which peer a command means: `peerId@address[,address...]`, a bare address
 * (whoever answers there), or a peer id (or the start of one) of a peer the
 * running node knows.
 *
 * @packageDocumentation
 */
import { isPeerId } from '@crust/core'
import { parseAddress } from '@crust/core/plugin'
import { UsageError } from '../errors.js'

/** A parsed `<peer>` argument. */
export interface Target {
  /** The full peer id, when given with an address. */
  readonly peerId?: string
  /** Addresses to dial; empty when only a peer id (or prefix) was given. */
  readonly addresses: readonly string[]
  /** A peer id or its beginning, to look up among known peers (no addresses). */
  readonly prefix?: string
  /** As the user wrote it. */
  readonly text: string
}

const EXAMPLE = 'peerId@tcp://203.0.113.5:4001'

/** `host:port` without a scheme, e.g. `127.0.0.1:4001` or `[::1]:4001` (peer ids never hold a colon). */
const SCHEMELESS = /^(\[[0-9a-fA-F:.]+\]|[^\s:/@[\]]+):\d{1,5}$/

/** A UsageError for `host:port` given without a scheme, suggesting one. */
function missingScheme(text: string): UsageError {
  return new UsageError(`'${text}' has no scheme; did you mean tcp://${text} (or quic://${text})?`)
}

/**
 * Parse a `<peer>` argument.
 *
 * @throws UsageError for a malformed peer id or address.
 */
export function parseTarget(text: string): Target {
  const trimmed = text.trim()
  if (trimmed === '') throw new UsageError(`the peer is empty; expected a peer id or ${EXAMPLE}`)
  const at = trimmed.indexOf('@')
  if (at === -1 && SCHEMELESS.test(trimmed)) throw missingScheme(trimmed)
  if (at === -1 && !trimmed.includes('://')) return { prefix: trimmed, addresses: [], text }
  const peerId = at === -1 ? undefined : trimmed.slice(0, at)
  const addresses = (at === -1 ? trimmed : trimmed.slice(at + 1)).split(',').map((a) => a.trim())
  if (peerId !== undefined && !isPeerId(peerId)) throw new UsageError(`'${peerId}' is not a peer id (they look like bciq…); expected ${EXAMPLE}`)
  for (const address of addresses) {
    if (SCHEMELESS.test(address)) throw missingScheme(address)
    if (parseAddress(address) === undefined) throw new UsageError(`'${address}' is not an address; expected one such as tcp://203.0.113.5:4001`)
  }
  return { ...(peerId === undefined ? {} : { peerId }), addresses, text }
}

/** Transport ids the target's addresses need, e.g. `['tcp']`. */
export function transportsOf(target: Target): string[] {
  return [...new Set(target.addresses.map((a) => parseAddress(a)?.transport).filter((t): t is string => t !== undefined))]
}
