/**
 * A small, synchronous, typed event emitter. Unlike node's `EventEmitter` it
 * gives `'error'` no special meaning and isolates listeners from each other: a
 * listener that throws is reported, and the remaining listeners still run.
 *
 * @packageDocumentation
 */
import { AbortError } from '../errors.js'

/** A listener for an event whose payload is `T`. */
export type Listener<T> = (payload: T) => void

/** Options for {@link TypedEmitter}. */
export interface TypedEmitterOptions<Events> {
  /**
   * Called when a listener throws. Defaults to `process.emitWarning`, so errors
   * are visible without crashing the process. Errors thrown by this callback
   * itself are ignored.
   */
  onListenerError?: (error: unknown, event: keyof Events) => void
}

/**
 * Typed event emitter: `Events` maps each event name to its payload type.
 *
 * @example
 * ```ts
 * const events = new TypedEmitter<{ connect: { peerId: string }; close: void }>()
 * const off = events.on('connect', ({ peerId }) => console.log(peerId))
 * events.emit('connect', { peerId: 'abc' })
 * off()
 * ```
 */
export class TypedEmitter<Events extends object> {
  // Listener arrays are replaced, never mutated, so an emit in progress keeps
  // iterating the snapshot it started with even if listeners (un)subscribe.
  readonly #listeners = new Map<keyof Events, ReadonlyArray<Subscription>>()
  readonly #onListenerError: (error: unknown, event: keyof Events) => void

  constructor(options: TypedEmitterOptions<Events> = {}) {
    this.#onListenerError = options.onListenerError ?? reportAsWarning
  }

  /**
   * Subscribe to `name`. The same function may be subscribed more than once;
   * each subscription gets its own call. Returns a function that removes this
   * subscription (calling it again does nothing).
   */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    // A fresh object per subscription gives it its own identity for unsubscribe.
    const subscription: Subscription = { listener: listener as Listener<never> }
    this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), subscription])
    return () => this.#remove(name, (s) => s === subscription)
  }

  /** Remove the most recent subscription of `listener` to `name`, if any. */
  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): void {
    this.#remove(name, (s) => s.listener === listener)
  }

  /**
   * Resolve with the payload of the next `name` event. With a `signal`, an
   * abort rejects with `AbortError` and removes the subscription.
   */
  once<K extends keyof Events>(name: K, signal?: AbortSignal): Promise<Events[K]> {
    if (signal?.aborted) return Promise.reject(new AbortError())
    return new Promise<Events[K]>((resolve, reject) => {
      const onAbort = (): void => {
        off()
        reject(new AbortError())
      }
      const off = this.on(name, (payload) => {
        off()
        signal?.removeEventListener('abort', onAbort)
        resolve(payload)
      })
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Call every listener of `name` synchronously, in subscription order.
   * Returns true when there was at least one listener.
   */
  emit<K extends keyof Events>(name: K, payload: Events[K]): boolean {
    const subscriptions = this.#listeners.get(name)
    if (subscriptions === undefined) return false
    for (const subscription of subscriptions) {
      const listener = subscription.listener as Listener<Events[K]>
      try {
        listener(payload)
      } catch (error) {
        try {
          this.#onListenerError(error, name)
        } catch {
          // A broken error reporter must not break the emitter either.
        }
      }
    }
    return true
  }

  /** Number of current subscriptions to `name`. */
  listenerCount(name: keyof Events): number {
    return this.#listeners.get(name)?.length ?? 0
  }

  #remove(name: keyof Events, match: (subscription: Subscription) => boolean): void {
    const listeners = this.#listeners.get(name)
    if (listeners === undefined) return
    const index = listeners.findLastIndex(match)
    if (index === -1) return
    const next = listeners.filter((_, i) => i !== index)
    if (next.length === 0) this.#listeners.delete(name)
    else this.#listeners.set(name, next)
  }
}

/** One call of `on`; its listener's payload type is erased in storage and restored in `emit`. */
interface Subscription {
  readonly listener: Listener<never>
}

function reportAsWarning(error: unknown, event: PropertyKey): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error)
  process.emitWarning(`A listener for "${String(event)}" threw: ${detail}`, { code: 'CRUST_LISTENER_ERROR' })
}
