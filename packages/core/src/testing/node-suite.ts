import type { TransportFactory } from '../transport/types.js'
import { MemoryLog } from './log.js'
import type { NodeCase, NodeSuiteSettings } from './node-case.js'
import { authCases } from './node-cases/auth.js'
import { badInputCases } from './node-cases/bad-input.js'
import { connectCases } from './node-cases/connect.js'
import { messagingCases } from './node-cases/messaging.js'
import { streamCases } from './node-cases/streams.js'
import { NodeScope } from './node-scope.js'
import type { ComplianceTest } from './suite.js'
import { DEFAULT_EVENT_TIMEOUT } from './util.js'

/** Options of {@link nodeComplianceTests}. */
export interface NodeComplianceOptions {
  /** Names the transports under test in failure messages, e.g. `tcp`. */
  readonly name: string
  /**
   * The transports each node is created with, bound to loopback, e.g.
   * `() => [tcp({ host: '127.0.0.1' })]`. Called once per node. The first
   * is also used bare (without a node) to send bad input.
   */
  transports(): TransportFactory[]
  /** What `Connection.transport` must be for the connections the nodes make (e.g. `tcp`); unchecked when absent. */
  readonly transportId?: string
  /** How long a case waits for something that should happen promptly (ms); default 5 000. */
  readonly eventTimeout?: number
}

const DEFAULT_TIMEOUT = 30_000

/** Every case, in the order they are reported. */
const ALL_CASES: readonly NodeCase[] = [...connectCases, ...messagingCases, ...streamCases, ...authCases, ...badInputCases]

/** Name the transports under test in a failure, and append what the bare transport logged. */
function annotated(error: unknown, name: string, log: MemoryLog): unknown {
  if (!(error instanceof Error)) return error
  const lines = log.tail(40)
  try {
    error.message = `[${name}] ${error.message}${lines.length > 0 ? `\n\nlast bare transport log lines:\n  ${lines.join('\n  ')}` : ''}`
  } catch {
    // a read-only message: report the error as it is
  }
  return error
}

function toTest(c: NodeCase, options: NodeComplianceOptions, settings: NodeSuiteSettings): ComplianceTest {
  return {
    name: c.name,
    timeoutMs: c.timeoutMs ?? DEFAULT_TIMEOUT,
    async run() {
      const log = new MemoryLog()
      const scope = new NodeScope(() => options.transports(), log, settings.eventTimeout)
      try {
        await c.body(scope, settings)
      } catch (error) {
        throw annotated(error, options.name, log)
      } finally {
        await scope.dispose()
      }
    },
  }
}

/**
 * The node-level compliance suite: what users see of a transport through
 * `createNode`, checked against real nodes on loopback. It covers connecting
 * (by peer id and by address alone), messaging (both directions, concurrent
 * requests, 1 MiB payloads hash-checked), application protocols and streams
 * (named messages, negotiation, 1 MiB echoed both ways, half-close, abort,
 * an unknown protocol refused fast, backpressure, per-peer stream limits,
 * Web Streams), the three auth modes (`none`,
 * `peer-id`, `ca` with CA material made on the fly) with typed errors on
 * both sides, and bad input after TLS (a typed refusal, and the node keeps
 * serving). Like {@link transportComplianceTests} it is test-runner agnostic:
 * each test is a name and an async `run()` that throws on failure and stops
 * every node it started.
 *
 * @example With vitest:
 * ```ts
 * import { it } from 'vitest'
 * import { nodeComplianceTests } from '@crust/core/testing'
 * for (const t of nodeComplianceTests({ name: 'tcp', transports: () => [tcp({ host: '127.0.0.1' })] })) it(t.name, t.run, t.timeoutMs)
 * ```
 */
export function nodeComplianceTests(options: NodeComplianceOptions): ComplianceTest[] {
  const settings: NodeSuiteSettings = {
    eventTimeout: options.eventTimeout ?? DEFAULT_EVENT_TIMEOUT,
    transportId: options.transportId,
  }
  return ALL_CASES.map((c) => toTest(c, options, settings))
}
