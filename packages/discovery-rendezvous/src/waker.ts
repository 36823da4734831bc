/** A sleep that another party can cut short (a topic joined, the node's addresses changed). */
export class Waker {
  private wakeUp: (() => void) | undefined
  private pending = false

  /** Resolve after `ms`, or at once when {@link Waker.wake} was called since the last sleep. */
  sleep(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.wakeUp = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wakeUp = done
    })
  }

  /** End the current sleep, or the next one before it starts. */
  wake(): void {
    if (this.wakeUp !== undefined) this.wakeUp()
    else this.pending = true
  }
}
