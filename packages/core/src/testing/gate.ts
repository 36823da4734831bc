import type { ConnectionGate, GateDecision, SocketAddress } from '../transport/types.js'

/** What a {@link TestGate} answers: admit, or refuse with a code and reason. */
export type TestGateDecision = { readonly allow: true } | { readonly allow: false; readonly code: number; readonly reason: string }

/**
 * A {@link ConnectionGate} the suite controls and audits: it records every
 * remote address it was asked about, can be told to refuse, runs a hook on
 * each admission (to act while the handshake is in flight), and counts
 * `release` calls so a test can check each admitted attempt is released
 * exactly once.
 */
export class TestGate implements ConnectionGate {
  /** Every remote the transport asked about, in order. */
  readonly seen: SocketAddress[] = []
  /** Number of attempts admitted. */
  admitted = 0
  /** Number of attempts refused. */
  refused = 0
  /** Number of distinct admitted attempts whose `release` was called. */
  released = 0
  /** `release` calls beyond the first for one attempt (a transport bug when non-zero). */
  extraReleases = 0
  /** The decision for the next attempts. */
  decision: TestGateDecision = { allow: true }
  /** Called synchronously after each admission, before the transport goes on. */
  onAdmit: ((remote: SocketAddress) => void) | undefined

  admitInbound(remote: SocketAddress): GateDecision & { release?: () => void } {
    this.seen.push({ transport: remote.transport, host: remote.host, port: remote.port })
    const decision = this.decision
    if (!decision.allow) {
      this.refused++
      return { allow: false, code: decision.code, reason: decision.reason }
    }
    this.admitted++
    let done = false
    const release = (): void => {
      if (done) {
        this.extraReleases++
        return
      }
      done = true
      this.released++
    }
    this.onAdmit?.(remote)
    return { allow: true, release }
  }

  /** Admitted attempts not released yet. */
  get outstanding(): number {
    return this.admitted - this.released
  }
}
