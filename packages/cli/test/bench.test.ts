/** `crust bench`: tables from the benchmark JSON, and a clear word when there is no checkout. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runInProcess } from './capture.js'
import { tempDir } from './helpers.js'

const report = {
  tcp: {
    machine: { node: 'v20.0.0', cpus: 2, cpuModel: 'Test CPU' },
    durationSeconds: 21.5,
    results: {
      throughput: { 'crust-tcp': { MBps: 410.2 }, 'raw-tls': { MBps: 520.9 }, ratio: 0.787 },
      messages: { 'crust-tcp': { messagesPerSecond: 41000 }, 'raw-tls': { messagesPerSecond: 90000 }, ratio: 0.456 },
      connect: { 'crust-tcp': { medianMs: 2.1 }, 'raw-tls': { medianMs: 1.3 }, ratio: 1.615 },
      idleMemory: { 'crust-tcp': { bytesPerConnection: 30000 }, 'raw-tls': { bytesPerConnection: 20000 }, ratio: 1.5 },
    },
    pass: { throughputRatio: true, messagesPerSecond: true, connectRatio: true, all: true },
  },
  quic: {
    durationSeconds: 50.4,
    results: {
      'bare-default': { throughputMBps: 1.43, messagesPerSecond: 132, connectMedianMs: 4.17 },
      'crust-quic': { throughputMBps: 108.76, messagesPerSecond: 1844, connectMedianMs: 12.25 },
    },
    ratios: { throughputCrustOverBareDefault: 76.1, messagesCrustOverBareDefault: 14 },
  },
}

describe('crust bench', () => {
  it('prints tables from an earlier run', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'bench-results.json'), JSON.stringify(report))
    const run = await runInProcess(['bench', '--results', 'bench-results.json'], { cwd: dir })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^TCP\s+crust-tcp\s+raw-tls\s+ratio\s+target\s+met$/m)
    expect(run.stdout).toMatch(/^throughput \(64 MiB, one stream\)\s+410\.2 MB\/s\s+520\.9 MB\/s\s+0\.787\s+≥ 0\.7\s+yes$/m)
    expect(run.stdout).toMatch(/^idle memory per connection\s+29\.3 KiB\s+19\.5 KiB\s+1\.5/m)
    expect(run.stdout).toMatch(/^bare-patched\s+-\s+-\s+-$/m)
    expect(run.stdout).toMatch(/^crust-quic\s+108\.76 MB\/s\s+1,844 msg\/s\s+12\.25 ms$/m)
    expect(run.stdout).toContain('crust-quic / bare-default: throughput ×76.1, messages ×14')
  })

  it('says clearly that it needs a checkout', async () => {
    const dir = await tempDir()
    const run = await runInProcess(['bench', '--repo', dir])
    expect(run.code).toBe(1)
    expect(run.stderr).toBe(`crust bench: ${dir} is not a Crust checkout (no bench/all.mjs in a crust-monorepo); the benchmarks need the repository\n`)
  })
})
