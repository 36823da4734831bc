import type { TransportFactory, TransportLimits } from '../transport/types.js'
import type { ComplianceCase, SuiteSettings } from './case.js'
import { abortCases } from './cases/abort.js'
import { authCases } from './cases/auth.js'
import { backpressureCases } from './cases/backpressure.js'
import { closeCases } from './cases/close.js'
import { failureCases } from './cases/failures.js'
import { gateCases } from './cases/gate.js'
import { halfCloseCases } from './cases/half-close.js'
import { limitCases } from './cases/limits.js'
import { listenCases } from './cases/listen.js'
import { payloadCases } from './cases/payload.js'
import { resetCases } from './cases/reset.js'
import { streamCases } from './cases/streams.js'
import { Harness } from './harness.js'
import { MemoryLog } from './log.js'
import { DEFAULT_EVENT_TIMEOUT } from './util.js'

/** What {@link TransportComplianceOptions.setup} returns: the transport under test and where it listens. */
export interface TransportUnderTest {
  /** The plugin as users pass it to `createNode`, e.g. `tcp({ host: '127.0.0.1' })`. */
  readonly factory: TransportFactory
  /** What the listening instance is given to `listen()`, e.g. `tcp://127.0.0.1:0` (port 0: any free port). */
  readonly listenAddress: string
}

/** Options of {@link transportComplianceTests}. */
export interface TransportComplianceOptions {
  /** Called before every test; each test then creates two instances (listener and dialer) from `factory`. */
  setup(): Promise<TransportUnderTest>
  /** Called after every test, once both instances are closed, whether the test passed or not. */
  teardown?(): Promise<void>
  /**
   * Limits handed to the transport instances. Default: the node defaults
   * (idle 30 s, keep-alive 10 s, handshake 10 s, 256 inbound streams).
   */
  limits?: Partial<TransportLimits>
  /**
   * Bytes a writer may hand over to a reader that reads nothing before one of
   * its writes must stall (default 64 MiB, far above any sane initial window).
   */
  backpressureLimit?: number
  /**
   * How long the suite waits for something that should happen promptly (an
   * inbound connection, a close, a FIN), in ms; longer waits are multiples of
   * it. Default 5 000. A test of the suite itself, whose runs against broken
   * transports fail by waiting in vain, can shorten it.
   */
  eventTimeout?: number
}

/** One runnable test of the suite. */
export interface ComplianceTest {
  /** What it checks, as a sentence usable as a test name. */
  readonly name: string
  /** Suggested runner timeout (ms). */
  readonly timeoutMs?: number
  /** Run it; rejects (with an `AssertionError` or a timeout error) when the transport fails it. */
  run(): Promise<void>
}

const DEFAULT_LIMITS: TransportLimits = {
  idleTimeout: 30_000,
  keepAliveInterval: 10_000,
  handshakeTimeout: 10_000,
  maxInboundStreams: 256,
}

const DEFAULT_TIMEOUT = 30_000

/** Every case, in the order they are reported. */
const ALL_CASES: readonly ComplianceCase[] = [
  ...listenCases,
  ...authCases,
  ...streamCases,
  ...payloadCases,
  ...halfCloseCases,
  ...abortCases,
  ...closeCases,
  ...gateCases,
  ...failureCases,
  ...backpressureCases,
  ...resetCases,
  ...limitCases,
]

/** Append the transports' last log lines to a failure, so the report shows what they said. */
function withLog(error: unknown, log: MemoryLog): unknown {
  const lines = log.tail(40)
  if (!(error instanceof Error) || lines.length === 0) return error
  try {
    error.message = `${error.message}\n\nlast transport log lines:\n  ${lines.join('\n  ')}`
  } catch {
    // a read-only message: report the error as it is
  }
  return error
}

function toTest(c: ComplianceCase, options: TransportComplianceOptions, limits: TransportLimits, settings: SuiteSettings): ComplianceTest {
  return {
    name: c.name,
    timeoutMs: c.timeoutMs ?? DEFAULT_TIMEOUT,
    async run() {
      const log = new MemoryLog()
      let failure: { error: unknown } | undefined
      let harness: Harness | undefined
      try {
        const subject = await options.setup()
        const sides = {
          listener: { ...limits, ...c.limits?.listener },
          dialer: { ...limits, ...c.limits?.dialer },
        }
        harness = await Harness.create(subject.factory, subject.listenAddress, sides, log, settings.eventTimeout)
        await c.body(harness, settings)
      } catch (error) {
        failure = { error }
      }
      try {
        await harness?.dispose(failure === undefined)
      } catch (error) {
        failure ??= { error }
      }
      try {
        await options.teardown?.()
      } catch (error) {
        failure ??= { error }
      }
      if (failure !== undefined) throw withLog(failure.error, log)
    },
  }
}

/**
 * The transport compliance suite: every behaviour of the transport contract
 * (`Transport`, `TransportConnection`, `TransportStream`, the gate and the
 * auth modes) checked against real instances of a transport plugin. It is
 * test-runner agnostic: each test is a name and an async `run()` that throws
 * on failure (assertions use `node:assert`). Each test calls `setup()`,
 * builds real components for two instances (a listener and a dialer: fresh
 * Ed25519 identities, `peer-id` auth, a gate it controls, limits, a logger,
 * collectors for `onInboundConnection` and `onInboundFailure`), runs, closes
 * both instances, checks nothing leaked (every connection closed, every gate
 * admission released once), and calls `teardown()`.
 *
 * @example With vitest:
 * ```ts
 * import { it } from 'vitest'
 * import { transportComplianceTests } from '@crust/core/testing'
 * for (const t of transportComplianceTests({ setup: async () => ({ factory: tcp(), listenAddress: 'tcp://127.0.0.1:0' }) })) it(t.name, t.run, t.timeoutMs)
 * ```
 */
export function transportComplianceTests(options: TransportComplianceOptions): ComplianceTest[] {
  const limits: TransportLimits = { ...DEFAULT_LIMITS, ...options.limits }
  const settings: SuiteSettings = {
    stallMs: 500,
    backpressureLimit: options.backpressureLimit ?? 64 * 1024 * 1024,
    eventTimeout: options.eventTimeout ?? DEFAULT_EVENT_TIMEOUT,
  }
  return ALL_CASES.map((c) => toTest(c, options, limits, settings))
}
