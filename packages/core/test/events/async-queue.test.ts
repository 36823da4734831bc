import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AsyncQueue, QueueClosedError } from '../../src/events/async-queue.js'

/** Resolves after pending promise callbacks have run. */
const tick = () => new Promise((resolve) => setImmediate(resolve))

/** Tracks whether a promise has settled yet. */
function track(promise: Promise<unknown>) {
  const state = { settled: false, error: undefined as unknown }
  promise.then(
    () => {
      state.settled = true
    },
    (error: unknown) => {
      state.settled = true
      state.error = error
    },
  )
  return state
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of iterable) items.push(item)
  return items
}

describe('AsyncQueue', () => {
  it('delivers pushed items in order, then finishes on end()', async () => {
    const queue = new AsyncQueue<number>(4)
    await queue.push(1)
    await queue.push(2)
    queue.end()
    await expect(collect(queue)).resolves.toEqual([1, 2])
  })

  it('wakes a waiting reader on push and on end', async () => {
    const queue = new AsyncQueue<string>()
    const items = collect(queue)
    await tick()
    await queue.push('a')
    queue.end()
    await expect(items).resolves.toEqual(['a'])
  })

  it('applies backpressure once capacity is reached', async () => {
    const queue = new AsyncQueue<number>(2)
    await queue.push(1)
    await queue.push(2)
    expect(queue.size).toBe(2)
    const third = track(queue.push(3))
    await tick()
    expect(third.settled).toBe(false)
    const iterator = queue[Symbol.asyncIterator]()
    await expect(iterator.next()).resolves.toEqual({ done: false, value: 1 })
    await tick()
    expect(third.settled).toBe(true)
    expect(queue.size).toBe(2)
  })

  it('with capacity 0, each push waits for the reader', async () => {
    const queue = new AsyncQueue<number>(0)
    const pushed = track(queue.push(1))
    await tick()
    expect(pushed.settled).toBe(false)
    const iterator = queue[Symbol.asyncIterator]()
    await expect(iterator.next()).resolves.toEqual({ done: false, value: 1 })
    await tick()
    expect(pushed.settled).toBe(true)
    const next = iterator.next()
    await queue.push(2)
    await expect(next).resolves.toEqual({ done: false, value: 2 })
  })

  it('delivers items of pushes still waiting when end() is called', async () => {
    const queue = new AsyncQueue<number>(1)
    await queue.push(1)
    const second = queue.push(2)
    queue.end()
    await expect(collect(queue)).resolves.toEqual([1, 2])
    await expect(second).resolves.toBeUndefined()
  })

  it('rejects pushes after end()', async () => {
    const queue = new AsyncQueue<number>()
    queue.end()
    queue.end()
    await expect(queue.push(1)).rejects.toBeInstanceOf(QueueClosedError)
  })

  it('fail() rejects the reader once, drops buffered items and rejects waiting pushers', async () => {
    const queue = new AsyncQueue<number>(1)
    await queue.push(1)
    const waiting = queue.push(2)
    const boom = new Error('boom')
    queue.fail(boom)
    await expect(waiting).rejects.toBeInstanceOf(QueueClosedError)
    expect(queue.size).toBe(0)
    const iterator = queue[Symbol.asyncIterator]()
    await expect(iterator.next()).rejects.toBe(boom)
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined })
    await expect(queue.push(3)).rejects.toBeInstanceOf(QueueClosedError)
  })

  it('fail() rejects a waiting reader', async () => {
    const queue = new AsyncQueue<number>()
    const boom = new Error('boom')
    const items = collect(queue)
    await tick()
    queue.fail(boom)
    await expect(items).rejects.toBe(boom)
  })

  it('break ends the queue: buffered items are dropped and later pushes rejected', async () => {
    const queue = new AsyncQueue<number>(1)
    await queue.push(1)
    const waiting = queue.push(2)
    for await (const item of queue) {
      expect(item).toBe(1)
      break
    }
    // Reading 1 made room, so push 2 was accepted before the break dropped it.
    await expect(waiting).resolves.toBeUndefined()
    expect(queue.size).toBe(0)
    await expect(queue.push(3)).rejects.toBeInstanceOf(QueueClosedError)
  })

  it('return() rejects pushers blocked on a full queue', async () => {
    const queue = new AsyncQueue<number>(1)
    await queue.push(1)
    const blocked = queue.push(2)
    await queue[Symbol.asyncIterator]().return?.()
    await expect(blocked).rejects.toBeInstanceOf(QueueClosedError)
  })

  it('return() finishes a pending read', async () => {
    const queue = new AsyncQueue<number>()
    const iterator = queue[Symbol.asyncIterator]()
    const pending = iterator.next()
    await iterator.return?.()
    await expect(pending).resolves.toEqual({ done: true, value: undefined })
  })

  it('rejects an invalid capacity', () => {
    expect(() => new AsyncQueue(-1)).toThrow(RangeError)
    expect(() => new AsyncQueue(1.5)).toThrow(RangeError)
  })

  it('delivers everything in order and never buffers past capacity (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.integer(), { maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        async (capacity, items, readerPauses) => {
          const queue = new AsyncQueue<number>(capacity)
          const producer = (async () => {
            for (const item of items) {
              await queue.push(item)
              expect(queue.size).toBeLessThanOrEqual(capacity)
            }
            queue.end()
          })()
          const received: number[] = []
          let i = 0
          for await (const item of queue) {
            received.push(item)
            if (readerPauses[i++ % Math.max(readerPauses.length, 1)]) await tick()
          }
          await producer
          expect(received).toEqual(items)
        },
      ),
      { numRuns: 50 },
    )
  })
})
