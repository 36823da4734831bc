/** The transport's one keep-alive timer (pure logic: members are stand-ins, no sockets). */
import { afterEach, describe, expect, it } from 'vitest'
import { KeepAlives } from '../src/keep-alive.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const wheels: KeepAlives[] = []
afterEach(() => {
  for (const wheel of wheels.splice(0)) for (const member of members.splice(0)) wheel.delete(member)
})
const members: Array<{ lastReceivedAt: number; pings: number; ping(): void }> = []
const member = () => {
  const m = {
    lastReceivedAt: performance.now(),
    pings: 0,
    ping() {
      m.pings++
    },
  }
  members.push(m)
  return m
}

describe('KeepAlives', () => {
  it('pings a quiet connection about once per interval, and never one that keeps hearing from its peer', async () => {
    const wheel = new KeepAlives(200)
    wheels.push(wheel)
    const quiet = member()
    const chatty = member()
    wheel.add(quiet)
    wheel.add(chatty)
    const hear = setInterval(() => {
      chatty.lastReceivedAt = performance.now()
    }, 50)
    await sleep(1_000)
    clearInterval(hear)
    // Due after 7/8 of the interval (175 ms) of quiet, checked every 25 ms: 4 to 5 pings in 1 s.
    expect(quiet.pings).toBeGreaterThanOrEqual(3) // fewer only if the timer is starved
    expect(quiet.pings).toBeLessThanOrEqual(6)
    expect(chatty.pings).toBe(0)
  })

  it('a PING answered (its ACK received) resets the count; a removed connection is left alone', async () => {
    const wheel = new KeepAlives(200)
    wheels.push(wheel)
    const answered = member()
    answered.ping = () => {
      answered.pings++
      setTimeout(() => {
        answered.lastReceivedAt = performance.now()
      }, 5)
    }
    const gone = member()
    wheel.add(answered)
    wheel.add(gone)
    wheel.delete(gone)
    await sleep(600)
    expect(answered.pings).toBeGreaterThanOrEqual(2)
    expect(answered.pings).toBeLessThanOrEqual(4)
    expect(gone.pings).toBe(0)
  })
})
