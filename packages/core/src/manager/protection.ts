/**
 * Peers the connection pruner must never close, each held by one or more
 * named reasons (`'bootstrap'`, `'relay'`, `'app'`, …), so two holders can
 * protect the same peer and each release only its own hold.
 */
export class ProtectedPeers {
  private readonly holds = new Map<string, Set<string>>()

  /** Protect `peerId` for `tag`; returns a function that releases this hold. */
  protect(peerId: string, tag: string): () => void {
    let tags = this.holds.get(peerId)
    if (tags === undefined) {
      tags = new Set()
      this.holds.set(peerId, tags)
    }
    tags.add(tag)
    return () => this.unprotect(peerId, tag)
  }

  /** Release the hold `tag` on `peerId` (all holds when `tag` is omitted). */
  unprotect(peerId: string, tag?: string): void {
    const tags = this.holds.get(peerId)
    if (tags === undefined) return
    if (tag === undefined) tags.clear()
    else tags.delete(tag)
    if (tags.size === 0) this.holds.delete(peerId)
  }

  /** Whether any hold protects `peerId`. */
  has(peerId: string): boolean {
    return this.holds.has(peerId)
  }

  /** The reasons `peerId` is protected for. */
  tags(peerId: string): string[] {
    return [...(this.holds.get(peerId) ?? [])]
  }
}
