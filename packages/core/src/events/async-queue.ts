/**
 * A bounded, single-consumer async queue: producers `push`, one consumer reads
 * with `for await`. `push` waits while the queue is full, so a producer that
 * awaits each push never holds more than `capacity` items in memory.
 *
 * @packageDocumentation
 */
import { CrustError } from '../errors.js'

/** `push` was called on, or was waiting on, a queue that is closed (ended, failed, or abandoned by its reader). */
export class QueueClosedError extends CrustError {
  constructor(message = 'The queue is closed') {
    super('ERR_QUEUE_CLOSED', message)
  }
}

interface Pusher<T> {
  readonly item: T
  resolve(): void
  reject(error: Error): void
}

interface Reader<T> {
  resolve(result: IteratorResult<T, undefined>): void
  reject(error: unknown): void
}

/** `failed` holds an error not yet seen by the reader; `closed` is final. */
type State =
  | { readonly kind: 'open' }
  | { readonly kind: 'ended' }
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'closed' }

/**
 * Bounded async queue with backpressure.
 *
 * - `end()`: no more pushes; the reader still gets every item pushed before, then finishes.
 * - `fail(err)`: buffered items are dropped and the reader's next read rejects with `err`.
 * - The reader leaving (`break`, `return`) drops buffered items and rejects
 *   waiting and later pushes with {@link QueueClosedError}, so producers stop.
 *
 * @example
 * ```ts
 * const queue = new AsyncQueue<Uint8Array>(8)
 * void (async () => { for (const chunk of chunks) await queue.push(chunk); queue.end() })()
 * for await (const chunk of queue) handle(chunk)
 * ```
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #capacity: number
  readonly #buffer: T[] = []
  readonly #pushers: Pusher<T>[] = []
  readonly #readers: Reader<T>[] = []
  #state: State = { kind: 'open' }

  /**
   * @param capacity - Items buffered before `push` starts waiting; `0` makes
   * every push wait until the reader takes its item.
   * @throws RangeError when `capacity` is not a non-negative integer.
   */
  constructor(capacity = 16) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`AsyncQueue capacity must be a non-negative integer, got ${capacity}`)
    }
    this.#capacity = capacity
  }

  /** Number of buffered items (not counting pushes still waiting for room). */
  get size(): number {
    return this.#buffer.length
  }

  /**
   * Add an item. Resolves once the queue has accepted it (immediately while
   * there is room). Rejects with {@link QueueClosedError} if the queue was
   * ended, failed or abandoned by its reader.
   */
  push(item: T): Promise<void> {
    if (this.#state.kind !== 'open') return Promise.reject(new QueueClosedError())
    const reader = this.#readers.shift()
    if (reader !== undefined) {
      reader.resolve({ done: false, value: item })
      return Promise.resolve()
    }
    if (this.#buffer.length < this.#capacity) {
      this.#buffer.push(item)
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => this.#pushers.push({ item, resolve, reject }))
  }

  /** No more items will be pushed; the reader finishes after the items already pushed. Idempotent. */
  end(): void {
    if (this.#state.kind !== 'open') return
    this.#state = { kind: 'ended' }
    // Readers only wait on an empty queue with no waiting pushers, so they are done.
    for (const reader of this.#readers.splice(0)) reader.resolve({ done: true, value: undefined })
  }

  /** Stop the queue with an error: buffered items are dropped and the reader's next read rejects with `error`. */
  fail(error: unknown): void {
    if (this.#state.kind !== 'open' && this.#state.kind !== 'ended') return
    this.#state = { kind: 'failed', error }
    this.#drop()
    const readers = this.#readers.splice(0)
    if (readers.length > 0) {
      // The error is delivered once; the queue then behaves as finished.
      this.#state = { kind: 'closed' }
      for (const reader of readers) reader.reject(error)
    }
  }

  /** The reader's iterator. The queue has a single logical reader; concurrent `next` calls are served in order. */
  [Symbol.asyncIterator](): AsyncIterator<T, unknown, unknown> {
    return {
      next: () => this.#next(),
      return: () => {
        this.#close()
        return Promise.resolve({ done: true, value: undefined })
      },
    }
  }

  #next(): Promise<IteratorResult<T, undefined>> {
    const state = this.#state
    if (state.kind === 'failed') {
      this.#state = { kind: 'closed' }
      return Promise.reject(state.error)
    }
    if (this.#buffer.length > 0) {
      const value = this.#buffer.shift() as T
      // Room freed: move the longest-waiting push into the buffer.
      const pusher = this.#pushers.shift()
      if (pusher !== undefined) {
        this.#buffer.push(pusher.item)
        pusher.resolve()
      }
      return Promise.resolve({ done: false, value })
    }
    // Empty buffer with a waiting push happens only with capacity 0: hand over directly.
    const pusher = this.#pushers.shift()
    if (pusher !== undefined) {
      pusher.resolve()
      return Promise.resolve({ done: false, value: pusher.item })
    }
    if (state.kind !== 'open') return Promise.resolve({ done: true, value: undefined })
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }))
  }

  /** The reader left: free memory, wake every waiter. */
  #close(): void {
    this.#state = { kind: 'closed' }
    this.#drop()
    for (const reader of this.#readers.splice(0)) reader.resolve({ done: true, value: undefined })
  }

  #drop(): void {
    this.#buffer.length = 0
    for (const pusher of this.#pushers.splice(0)) pusher.reject(new QueueClosedError())
  }
}
