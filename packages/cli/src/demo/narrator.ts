/**
 * The demo's voice: numbered steps, bullet lines, and the time since start.
 *
 * @packageDocumentation
 */
import type { Output } from '../io.js'

/** Prints the demo's narration. */
export class Narrator {
  private steps = 0
  private readonly started = performance.now()

  constructor(private readonly out: Output) {}

  /** A heading: `2. Messages and requests`. */
  step(title: string): void {
    this.steps++
    this.out.write(`\n${this.steps}. ${title}\n`)
  }

  /** One line of what happened. */
  say(text: string): void {
    this.out.write(`   • ${text}\n`)
  }

  /** A line outside the steps. */
  line(text: string): void {
    this.out.write(`${text}\n`)
  }

  /** Milliseconds since the demo started. */
  elapsed(): number {
    return performance.now() - this.started
  }
}
