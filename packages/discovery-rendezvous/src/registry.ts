/**
 * The server's registrations: which peers are registered under which topics,
 * each peer's latest record, bounded per peer, per topic and in all, with
 * expiry and pagination. Pure data, no I/O.
 *
 * @packageDocumentation
 */
import { RendezvousError } from './errors.js'
import { type PeerRecord, type SignedRecord, recordSize } from './record.js'

/** Bounds of a {@link Registry}. */
export interface RegistryLimits {
  readonly maxRegistrationsPerPeer: number
  readonly maxRegistrationsPerTopic: number
  readonly maxRegistrations: number
}

interface Registration {
  /** Grows with every registration made on this server: pages are ordered by it and cookies name one. */
  readonly serial: number
  readonly expires: number
}

interface PeerEntry {
  record: PeerRecord
  signed: SignedRecord
  size: number
  /** Topic -> registration. */
  readonly topics: Map<string, Registration>
}

/** One DISCOVER page. */
export interface Page {
  readonly records: readonly SignedRecord[]
  /** Pass back to continue after this page. */
  readonly cookie: string | undefined
  /** True when the topic holds registrations after this page. */
  readonly more: boolean
}

/** Counters of a {@link Registry}. */
export interface RegistryStats {
  readonly registrations: number
  readonly peers: number
  readonly topics: number
}

export class Registry {
  private readonly peers = new Map<string, PeerEntry>()
  /** Topic -> peer id -> registration, in serial order (a re-registration moves to the end). */
  private readonly topics = new Map<string, Map<string, Registration>>()
  private total = 0
  private serial = 0

  constructor(private readonly limits: RegistryLimits) {}

  /**
   * Register `record`'s peer under `topic` until `expires` (never past the
   * record's own expiry). The record replaces the peer's held one when newer.
   *
   * @throws RendezvousError `stale-record` (older than the held one), `too-many-registrations`, `topic-full` or `server-full`.
   */
  register(topic: string, record: PeerRecord, signed: SignedRecord, expires: number, now = Date.now()): number {
    const peerId = record.peerId
    const entry = this.peers.get(peerId)
    if (entry !== undefined) {
      if (record.seq < entry.record.seq || (record.seq === entry.record.seq && signed.payload !== entry.signed.payload)) {
        throw new RendezvousError('stale-record', `record sequence ${record.seq} is not newer than the held ${entry.record.seq}`)
      }
    }
    const until = Math.min(expires, record.expires)
    const existing = entry?.topics.get(topic)
    if (existing === undefined || existing.expires <= now) {
      // A new registration: only now do the bounds apply (a refresh never fails on them).
      this.sweepPeer(peerId, now)
      const held = this.peers.get(peerId)
      if ((held?.topics.size ?? 0) >= this.limits.maxRegistrationsPerPeer) {
        throw new RendezvousError('too-many-registrations', `at most ${this.limits.maxRegistrationsPerPeer} registrations per peer`)
      }
      if ((this.topics.get(topic)?.size ?? 0) >= this.limits.maxRegistrationsPerTopic) {
        this.sweepTopic(topic, now)
        if ((this.topics.get(topic)?.size ?? 0) >= this.limits.maxRegistrationsPerTopic) {
          throw new RendezvousError('topic-full', `topic holds its ${this.limits.maxRegistrationsPerTopic} registrations`)
        }
      }
      if (this.total >= this.limits.maxRegistrations) {
        this.sweep(now)
        if (this.total >= this.limits.maxRegistrations) throw new RendezvousError('server-full', `server holds its ${this.limits.maxRegistrations} registrations`)
      }
    }
    this.remove(topic, peerId)
    const peer = this.peers.get(peerId) ?? { record, signed, size: recordSize(signed), topics: new Map<string, Registration>() }
    peer.record = record
    peer.signed = signed
    peer.size = recordSize(signed)
    this.peers.set(peerId, peer)
    const registration = { serial: ++this.serial, expires: until }
    peer.topics.set(topic, registration)
    const members = this.topics.get(topic) ?? new Map<string, Registration>()
    members.set(peerId, registration)
    this.topics.set(topic, members)
    this.total++
    return until
  }

  /** Remove `peerId`'s registration under `topic` (nothing when there is none). */
  unregister(topic: string, peerId: string): void {
    this.remove(topic, peerId)
  }

  /**
   * Up to `limit` live records of `topic` registered after `cookie`, as many
   * as fit in `budget` bytes (their encoded size).
   */
  discover(topic: string, cookie: string | undefined, limit: number, budget: number, now = Date.now()): Page {
    const after = cookie === undefined ? 0 : Number(cookie)
    const records: SignedRecord[] = []
    let used = 0
    let last: number | undefined
    const members = this.topics.get(topic)
    for (const [peerId, registration] of members ?? []) {
      if (registration.serial <= after || registration.expires <= now) continue
      const peer = this.peers.get(peerId)
      if (peer === undefined || peer.record.expires <= now) continue
      if (records.length >= limit || used + peer.size > budget) return { records, cookie: String(last ?? after), more: true }
      records.push(peer.signed)
      used += peer.size
      last = registration.serial
    }
    return { records, cookie: last === undefined ? cookie : String(last), more: false }
  }

  /** The live record of `peerId` when it is registered under some topic. */
  lookup(peerId: string, now = Date.now()): SignedRecord | undefined {
    const peer = this.peers.get(peerId)
    if (peer === undefined || peer.record.expires <= now) return undefined
    for (const registration of peer.topics.values()) if (registration.expires > now) return peer.signed
    return undefined
  }

  /** Drop every expired registration. */
  sweep(now = Date.now()): void {
    for (const peerId of [...this.peers.keys()]) this.sweepPeer(peerId, now)
  }

  /** The `limit` topics holding the most registrations (expired ones not yet swept included), largest first. */
  largestTopics(limit: number): Array<{ readonly topic: string; readonly registrations: number }> {
    return [...this.topics]
      .map(([topic, members]) => ({ topic, registrations: members.size }))
      .sort((a, b) => b.registrations - a.registrations || (a.topic < b.topic ? -1 : 1))
      .slice(0, limit)
  }

  stats(): RegistryStats {
    return { registrations: this.total, peers: this.peers.size, topics: this.topics.size }
  }

  private sweepPeer(peerId: string, now: number): void {
    const peer = this.peers.get(peerId)
    if (peer === undefined) return
    for (const [topic, registration] of [...peer.topics]) {
      if (registration.expires <= now || peer.record.expires <= now) this.remove(topic, peerId)
    }
  }

  private sweepTopic(topic: string, now: number): void {
    for (const [peerId, registration] of [...(this.topics.get(topic) ?? [])]) {
      if (registration.expires <= now) this.remove(topic, peerId)
    }
  }

  private remove(topic: string, peerId: string): void {
    const peer = this.peers.get(peerId)
    if (peer?.topics.delete(topic) !== true) return
    this.total--
    if (peer.topics.size === 0) this.peers.delete(peerId)
    const members = this.topics.get(topic)
    members?.delete(peerId)
    if (members?.size === 0) this.topics.delete(topic)
  }
}
