import { describe, expect, it, vi } from 'vitest'
import { AbortError } from '../../src/errors.js'
import { TypedEmitter } from '../../src/events/emitter.js'

type Events = { data: number; error: { message: string }; done: undefined }

describe('TypedEmitter', () => {
  it('calls listeners in order with the payload, and reports whether any ran', () => {
    const emitter = new TypedEmitter<Events>()
    const calls: string[] = []
    emitter.on('data', (n) => calls.push(`a${n}`))
    emitter.on('data', (n) => calls.push(`b${n}`))
    expect(emitter.emit('data', 1)).toBe(true)
    expect(emitter.emit('done', undefined)).toBe(false)
    expect(calls).toEqual(['a1', 'b1'])
  })

  it('on() returns an idempotent unsubscribe', () => {
    const emitter = new TypedEmitter<Events>()
    const listener = vi.fn()
    const off = emitter.on('data', listener)
    off()
    off()
    emitter.emit('data', 1)
    expect(listener).not.toHaveBeenCalled()
    expect(emitter.listenerCount('data')).toBe(0)
  })

  it('keeps separate subscriptions of the same function apart', () => {
    const emitter = new TypedEmitter<Events>()
    const listener = vi.fn()
    const offFirst = emitter.on('data', listener)
    emitter.on('data', listener)
    emitter.emit('data', 1)
    expect(listener).toHaveBeenCalledTimes(2)
    offFirst()
    emitter.emit('data', 2)
    expect(listener).toHaveBeenCalledTimes(3)
    expect(emitter.listenerCount('data')).toBe(1)
  })

  it('off() removes one subscription of the listener', () => {
    const emitter = new TypedEmitter<Events>()
    const listener = vi.fn()
    emitter.on('data', listener)
    emitter.on('data', listener)
    emitter.off('data', listener)
    expect(emitter.listenerCount('data')).toBe(1)
    emitter.off('data', listener)
    emitter.off('data', listener)
    expect(emitter.listenerCount('data')).toBe(0)
  })

  it('isolates a throwing listener and reports it', () => {
    const onListenerError = vi.fn()
    const emitter = new TypedEmitter<Events>({ onListenerError })
    const after = vi.fn()
    const boom = new Error('boom')
    emitter.on('data', () => {
      throw boom
    })
    emitter.on('data', after)
    expect(() => emitter.emit('data', 7)).not.toThrow()
    expect(after).toHaveBeenCalledWith(7)
    expect(onListenerError).toHaveBeenCalledWith(boom, 'data')
    emitter.emit('data', 8)
    expect(after).toHaveBeenCalledTimes(2)
  })

  it('survives a throwing onListenerError', () => {
    const emitter = new TypedEmitter<Events>({
      onListenerError: () => {
        throw new Error('reporter broke')
      },
    })
    const after = vi.fn()
    emitter.on('data', () => {
      throw new Error('boom')
    })
    emitter.on('data', after)
    expect(() => emitter.emit('data', 1)).not.toThrow()
    expect(after).toHaveBeenCalled()
  })

  it('reports listener errors as a process warning by default', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      const emitter = new TypedEmitter<Events>()
      emitter.on('data', () => {
        throw new Error('boom')
      })
      emitter.emit('data', 1)
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('boom'), expect.objectContaining({ code: 'CRUST_LISTENER_ERROR' }))
    } finally {
      warn.mockRestore()
    }
  })

  it("gives 'error' no special meaning", () => {
    const emitter = new TypedEmitter<Events>()
    expect(emitter.emit('error', { message: 'nobody listens' })).toBe(false)
  })

  it('uses a snapshot: changes during emit apply to the next emit', () => {
    const emitter = new TypedEmitter<Events>()
    const late = vi.fn()
    const second = vi.fn()
    emitter.on('data', () => {
      emitter.on('data', late)
      offSecond()
    })
    const offSecond = emitter.on('data', second)
    emitter.emit('data', 1)
    expect(late).not.toHaveBeenCalled()
    expect(second).toHaveBeenCalledTimes(1)
    emitter.emit('data', 2)
    expect(late).toHaveBeenCalledWith(2)
    expect(second).toHaveBeenCalledTimes(1)
  })

  describe('once', () => {
    it('resolves with the next payload and unsubscribes', async () => {
      const emitter = new TypedEmitter<Events>()
      const next = emitter.once('data')
      expect(emitter.listenerCount('data')).toBe(1)
      emitter.emit('data', 42)
      emitter.emit('data', 43)
      await expect(next).resolves.toBe(42)
      expect(emitter.listenerCount('data')).toBe(0)
    })

    it('rejects with AbortError when the signal aborts, and unsubscribes', async () => {
      const emitter = new TypedEmitter<Events>()
      const controller = new AbortController()
      const next = emitter.once('data', controller.signal)
      controller.abort()
      await expect(next).rejects.toBeInstanceOf(AbortError)
      expect(emitter.listenerCount('data')).toBe(0)
    })

    it('rejects at once with an already aborted signal', async () => {
      const emitter = new TypedEmitter<Events>()
      await expect(emitter.once('data', AbortSignal.abort())).rejects.toBeInstanceOf(AbortError)
      expect(emitter.listenerCount('data')).toBe(0)
    })

    it('ignores an abort after it resolved', async () => {
      const emitter = new TypedEmitter<Events>()
      const controller = new AbortController()
      const next = emitter.once('data', controller.signal)
      emitter.emit('data', 1)
      controller.abort()
      await expect(next).resolves.toBe(1)
    })
  })
})
