/**
 * A queue of things that happen asynchronously (inbound connections, inbound
 * failures, accepted streams), which a test takes one at a time in arrival
 * order, waiting with a deadline when none is there yet.
 */
export class Collector<T> {
  private readonly received: T[] = []
  private taken = 0
  private readonly waiters: Array<(item: T) => void> = []

  /** Everything received so far, taken or not. */
  get items(): readonly T[] {
    return this.received
  }

  /** How many items were received. */
  get count(): number {
    return this.received.length
  }

  /** Record an item; hands it to the oldest waiting {@link next} caller, if any. */
  push(item: T): void {
    this.received.push(item)
    const waiter = this.waiters.shift()
    if (waiter !== undefined) {
      this.taken++
      waiter(item)
    }
  }

  /**
   * The next item not yet taken, in arrival order. Rejects with an error
   * naming `what` when none arrives within `timeoutMs`.
   */
  next(timeoutMs: number, what: string): Promise<T> {
    if (this.taken < this.received.length) return Promise.resolve(this.received[this.taken++] as T)
    return new Promise<T>((resolve, reject) => {
      const waiter = (item: T): void => {
        clearTimeout(timer)
        resolve(item)
      }
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter)
        if (index >= 0) this.waiters.splice(index, 1)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }
}
