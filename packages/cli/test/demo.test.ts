/** `crust demo`, the README's command: real nodes, narrated, exit 0, fast. */
import { describe, expect, it } from 'vitest'
import { crust } from './helpers.js'

describe('crust demo', () => {
  it('narrates discovery, TCP, QUIC fallback, messages, blacklist and re-join, and exits 0', async () => {
    const run = await crust(['demo'], { timeout: 30_000 })
    const out = run.stdout
    // On failure, show the whole narration: it says which step went wrong.
    expect(`exit ${run.code}\n${run.stderr}`, out).toBe('exit 0\n')
    expect(out).toMatch(/alice ↔ bob: tcp, direct/)
    expect(out).toMatch(/bob got a message from alice: "hello from alice"/)
    expect(out).toMatch(/requests\/s/)
    expect(out).toMatch(/connection:fallback said tcp → quic, reason "timeout"/)
    expect(out).toMatch(/alice ↔ dave runs over quic/)
    expect(out).toMatch(/alice blacklisted carol: their connection closed at once/)
    expect(out).toMatch(/carol dialled alice again and was refused/)
    expect(out).toMatch(/re-joined through \w+ \(from his bootstrap cache\)/)
    expect(out).toMatch(/Done in [\d.]+ (ms|s)/)
    expect(run.ms).toBeLessThan(15_000)
  })
})
