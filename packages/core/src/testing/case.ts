import type { TransportLimits } from '../transport/types.js'
import type { Harness } from './harness.js'

/** Tunables of the suite, with defaults filled in. */
export interface SuiteSettings {
  /** How long a write must stay pending to count as stalled by backpressure (ms). */
  readonly stallMs: number
  /** Bytes a writer may hand over to a reader that reads nothing before it must stall. */
  readonly backpressureLimit: number
  /** How long to wait for something that should happen promptly (ms). */
  readonly eventTimeout: number
}

/** One compliance case: its body runs against a fresh {@link Harness}. */
export interface ComplianceCase {
  readonly name: string
  /** Overall budget for the runner (ms); the body's own waits are shorter. */
  readonly timeoutMs?: number
  /** Limits this case needs on top of the suite's, per side. */
  readonly limits?: { readonly listener?: Partial<TransportLimits>; readonly dialer?: Partial<TransportLimits> }
  body(harness: Harness, settings: SuiteSettings): Promise<void>
}
