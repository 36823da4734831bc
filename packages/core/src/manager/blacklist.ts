/**
 * The node's blacklist of peer ids, IP addresses and CIDR ranges. Address
 * matching is delegated to node's `net.BlockList`; this class adds peer ids,
 * removal, listing and change notification on top.
 *
 * @packageDocumentation
 */
import { BlockList, isIP } from 'node:net'
import { CrustError } from '../errors.js'
import { normalizeIp } from '../transport/address.js'
import { TypedEmitter } from '../events/emitter.js'

/** A blacklist entry could not be understood as a peer id, an IP address or a CIDR range. */
export class InvalidEntryError extends CrustError {
  constructor(
    message: string,
    readonly entry: string,
  ) {
    super('ERR_INVALID_BLACKLIST_ENTRY', message)
  }
}

/** What kind of thing a blacklist entry names. */
export type BlacklistEntryKind = 'peer' | 'ip' | 'cidr'

/** A classified, canonical blacklist entry; see {@link classifyBlacklistEntry}. */
export type BlacklistEntry =
  | { readonly kind: 'peer'; readonly value: string }
  | { readonly kind: 'ip'; readonly value: string; readonly family: 'ipv4' | 'ipv6' }
  | {
      readonly kind: 'cidr'
      readonly value: string
      readonly address: string
      readonly prefix: number
      readonly family: 'ipv4' | 'ipv6'
    }

/** A change made to a {@link Blacklist}, as passed to {@link Blacklist.onChange} listeners. */
export interface BlacklistChange {
  readonly type: 'add' | 'remove'
  /** The canonical form of the entry (IPv4-mapped IPv6 addresses become IPv4, IPv6 is compressed). */
  readonly entry: string
  readonly kind: BlacklistEntryKind
}

const MAX_PEER_ID_LENGTH = 128
const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/

/**
 * Canonical text of an IP literal, or undefined if `ip` is not one.
 * Canonical forms make `has`/`remove` and de-duplication independent of how
 * the address was spelled (`::0001` vs `::1`, `::ffff:a00:1` vs `10.0.0.1`).
 */
function canonicalIp(ip: string): string | undefined {
  // Zone ids (`fe80::1%eth0`) name an interface, not an address; reject them in entries.
  if (ip.includes('%') || isIP(ip) === 0) return undefined
  const lower = normalizeIp(ip.toLowerCase())
  if (isIP(lower) === 4) return lower
  // The WHATWG URL parser is a built-in, well-tested IPv6 canonicaliser.
  const compressed = new URL(`http://[${lower}]`).hostname.slice(1, -1)
  const hex = mappedHex.exec(compressed)
  if (hex?.[1] === undefined || hex[2] === undefined) return compressed
  const high = Number.parseInt(hex[1], 16)
  const low = Number.parseInt(hex[2], 16)
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

const familyOf = (ip: string): 'ipv4' | 'ipv6' => (isIP(ip) === 4 ? 'ipv4' : 'ipv6')

/**
 * Classify a blacklist entry as a peer id, an IP address or a CIDR range and
 * return its canonical form. Anything containing `/` or `:`, or made only of
 * digits and dots, is taken as an attempted address, so `10.0.0.0/33` or
 * `10.0.0.256` is rejected rather than silently treated as a peer id.
 *
 * @throws {@link InvalidEntryError} when the entry is none of the three.
 */
export function classifyBlacklistEntry(entry: string): BlacklistEntry {
  const slash = entry.lastIndexOf('/')
  if (slash !== -1) {
    const address = canonicalIp(entry.slice(0, slash))
    const prefixText = entry.slice(slash + 1)
    if (address === undefined) {
      throw new InvalidEntryError(`Invalid CIDR "${entry}": "${entry.slice(0, slash)}" is not an IP address`, entry)
    }
    const family = familyOf(address)
    const bits = family === 'ipv4' ? 32 : 128
    // A mapped IPv6 range (`::ffff:10.0.0.0/104`) was turned into IPv4 above; shift its prefix to match.
    const offset = family === 'ipv4' && isIP(entry.slice(0, slash)) === 6 ? 96 : 0
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) - offset : Number.NaN
    if (!(prefix >= 0 && prefix <= bits)) {
      throw new InvalidEntryError(
        `Invalid CIDR "${entry}": prefix length must be an integer from ${offset} to ${bits + offset}`,
        entry,
      )
    }
    return { kind: 'cidr', value: `${address}/${prefix}`, address, prefix, family }
  }
  const ip = canonicalIp(entry)
  if (ip !== undefined) return { kind: 'ip', value: ip, family: familyOf(ip) }
  if (entry.includes(':') || /^[\d.]+$/.test(entry)) {
    throw new InvalidEntryError(`Invalid IP address "${entry}"`, entry)
  }
  if (entry.length === 0 || entry.length > MAX_PEER_ID_LENGTH || /\s/.test(entry)) {
    throw new InvalidEntryError(
      `Invalid blacklist entry "${entry}": expected a peer id (1-${MAX_PEER_ID_LENGTH} characters, no spaces), an IP address or a CIDR range`,
      entry,
    )
  }
  return { kind: 'peer', value: entry }
}

/**
 * A set of blocked peer ids, IP addresses and CIDR ranges (IPv4 and IPv6).
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) match IPv4 entries.
 *
 * @example
 * ```ts
 * const blacklist = new Blacklist(['10.0.0.0/8', 'bad-peer-id'])
 * blacklist.isBlocked({ ip: '::ffff:10.1.2.3' }) // true
 * ```
 */
export class Blacklist {
  readonly #peers = new Set<string>()
  /** Canonical IP and CIDR entries, kept so the BlockList can be rebuilt on removal. */
  readonly #addresses = new Map<string, Exclude<BlacklistEntry, { kind: 'peer' }>>()
  #blockList = new BlockList()
  readonly #events = new TypedEmitter<{ change: BlacklistChange }>()

  /**
   * @param initial - Entries to start with (peer ids, IPs, CIDRs).
   * @throws {@link InvalidEntryError} if one of them is invalid.
   */
  constructor(initial: Iterable<string> = []) {
    for (const entry of initial) this.add(entry)
  }

  /**
   * Block a peer id, an IP address or a CIDR range (the kind is detected).
   * Returns false when the entry was already present.
   *
   * @throws {@link InvalidEntryError} if the entry is none of these.
   */
  add(entry: string): boolean {
    const parsed = classifyBlacklistEntry(entry)
    if (this.#hasParsed(parsed)) return false
    if (parsed.kind === 'peer') {
      this.#peers.add(parsed.value)
    } else {
      this.#addresses.set(parsed.value, parsed)
      addToBlockList(this.#blockList, parsed)
    }
    this.#events.emit('change', { type: 'add', entry: parsed.value, kind: parsed.kind })
    return true
  }

  /**
   * Unblock an entry previously added (in any spelling of the same address).
   * Returns false when it was not present; invalid entries are never present.
   */
  remove(entry: string): boolean {
    const parsed = tryClassify(entry)
    if (parsed === undefined || !this.#hasParsed(parsed)) return false
    if (parsed.kind === 'peer') {
      this.#peers.delete(parsed.value)
    } else {
      this.#addresses.delete(parsed.value)
      // net.BlockList cannot remove rules, so build a fresh one from what is left.
      const rebuilt = new BlockList()
      for (const rule of this.#addresses.values()) addToBlockList(rebuilt, rule)
      this.#blockList = rebuilt
    }
    this.#events.emit('change', { type: 'remove', entry: parsed.value, kind: parsed.kind })
    return true
  }

  /** True when this exact entry (peer id, address or range) was added; not a match test, see {@link isBlocked}. */
  has(entry: string): boolean {
    const parsed = tryClassify(entry)
    return parsed !== undefined && this.#hasParsed(parsed)
  }

  /** True when either the peer id or the IP address is blocked. */
  isBlocked(target: { peerId?: string; ip?: string }): boolean {
    return (
      (target.peerId !== undefined && this.blocksPeer(target.peerId)) ||
      (target.ip !== undefined && this.blocksIp(target.ip))
    )
  }

  /** True when `ip` is a blocked address or inside a blocked range. Non-IP input is never blocked. */
  blocksIp(ip: string): boolean {
    if (this.#addresses.size === 0) return false
    // Socket addresses of link-local peers carry a zone id; the address part is what entries name.
    const address = normalizeIp(ip.split('%', 1)[0] ?? '')
    const family = isIP(address)
    if (family === 0) return false
    return this.#blockList.check(address, family === 4 ? 'ipv4' : 'ipv6')
  }

  /** True when `peerId` is blocked. */
  blocksPeer(peerId: string): boolean {
    return this.#peers.has(peerId)
  }

  /** A snapshot of the entries in canonical form; `ips` holds both addresses and CIDR ranges. */
  entries(): { peers: string[]; ips: string[] } {
    return { peers: [...this.#peers], ips: [...this.#addresses.keys()] }
  }

  /**
   * Be told of every effective change (adding a present entry or removing an
   * absent one is not a change). Returns a function that unsubscribes.
   */
  onChange(listener: (change: BlacklistChange) => void): () => void {
    return this.#events.on('change', listener)
  }

  #hasParsed(parsed: BlacklistEntry): boolean {
    return parsed.kind === 'peer' ? this.#peers.has(parsed.value) : this.#addresses.has(parsed.value)
  }
}

function tryClassify(entry: string): BlacklistEntry | undefined {
  try {
    return classifyBlacklistEntry(entry)
  } catch {
    return undefined
  }
}

function addToBlockList(blockList: BlockList, entry: Exclude<BlacklistEntry, { kind: 'peer' }>): void {
  if (entry.kind === 'ip') blockList.addAddress(entry.value, entry.family)
  else blockList.addSubnet(entry.address, entry.prefix, entry.family)
}
