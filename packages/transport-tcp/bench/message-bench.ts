/**
 * Core message path over TCP, both nodes in one process (compare runs of
 * this script with each other, not with `pnpm bench`): 10,000 requests of
 * 1 KiB with 64 in flight, and single 64 MiB messages.
 *
 * Run against the sources: npx tsx --tsconfig packages/transport-tcp/bench/tsconfig.json packages/transport-tcp/bench/message-bench.ts
 * Prints JSON: messages/s and CPU µs per message; MB/s and CPU ms per MB (medians of RUNS runs, default 7).
 */
import { createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'

const MiB = 1024 * 1024

async function main(): Promise<void> {
  const config = { networkName: 'bench', logLevel: 'silent', bootstrap: { cache: false }, maxMessageSize: 128 * MiB } as const
  const server = await createNode({ ...config, transports: [tcp({ host: '127.0.0.1' })] })
  const client = await createNode({ ...config, transports: [tcp({ host: '127.0.0.1' })] })
  await server.start()
  await client.start()
  const one = Buffer.alloc(1)
  server.handle(() => one)
  const connection = await client.connect({ peerId: server.peerId, addresses: server.addresses })

  const requests = async (count: number): Promise<{ perSecond: number; cpuMicros: number }> => {
    const payload = Buffer.alloc(1024, 1)
    let next = 0
    const cpu = process.cpuUsage()
    const start = performance.now()
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next++ < count) await connection.request(payload)
      }),
    )
    const seconds = (performance.now() - start) / 1000
    const used = process.cpuUsage(cpu)
    return { perSecond: Math.round(count / seconds), cpuMicros: Math.round(((used.user + used.system) / count) * 100) / 100 }
  }
  const bulk = async (): Promise<{ MBps: number; cpuMsPerMB: number }> => {
    const payload = Buffer.alloc(64 * MiB, 2)
    const cpu = process.cpuUsage()
    const start = performance.now()
    await connection.request(payload)
    const seconds = (performance.now() - start) / 1000
    const used = process.cpuUsage(cpu)
    const mb = payload.length / 1e6
    return { MBps: Math.round(mb / seconds), cpuMsPerMB: Math.round((used.user + used.system) / 10 / mb) / 100 }
  }

  await requests(1_000)
  await connection.request(Buffer.alloc(4 * MiB))
  const messages = []
  const throughput = []
  const runs = Number(process.env.RUNS ?? 7)
  for (let run = 0; run < runs; run++) {
    messages.push(await requests(10_000))
    throughput.push(await bulk())
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] as number
  console.log(
    JSON.stringify({
      messagesPerSecond: median(messages.map((m) => m.perSecond)),
      cpuMicrosPerMessage: median(messages.map((m) => m.cpuMicros)),
      runsPerSecond: messages.map((m) => m.perSecond),
      MBps: median(throughput.map((t) => t.MBps)),
      cpuMsPerMB: median(throughput.map((t) => t.cpuMsPerMB)),
      runsMBps: throughput.map((t) => t.MBps),
    }),
  )
  await client.stop()
  await server.stop()
}

void main()
