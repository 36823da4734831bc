// Profile the messages scenario on one implementation, long enough for a useful CPU profile:
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof/client bench/profile-messages.mjs [requests] [inFlight] [crust-tcp|raw-tls]
//
// The server child is started with --cpu-prof too (profile in /tmp/prof/server,
// or $BENCH_PROF_DIR/server). Open the .cpuprofile files in Chrome DevTools or
// VS Code, or summarise them with `node bench/cpuprofile-top.mjs <dir>`.
import { fork } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { MAX_MESSAGE_SIZE, NETWORK, RawClient, rawTlsOptions } from './common.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const total = Number(process.argv[2] ?? 100_000)
const inFlight = Number(process.argv[3] ?? 64)
const impl = process.argv[4] ?? 'crust-tcp'
const profDir = join(process.env.BENCH_PROF_DIR ?? '/tmp/prof', 'server')

const child = fork(join(here, 'server.mjs'), [], {
  execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, ...(process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)],
  stdio: ['ignore', 2, 2, 'ipc'],
})
const reply = (id) =>
  new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.id !== id) return
      child.off('message', onMessage)
      message.ok ? resolve(message) : reject(new Error(message.error))
    }
    child.on('message', onMessage)
  })

let exitCode = 0
try {
  child.send({ id: 1, cmd: 'start', impl })
  const info = await reply(1)
  let conn
  let close
  if (impl === 'crust-tcp') {
    const node = await createNode({
      networkName: NETWORK,
      role: 'client',
      bootstrap: { cache: false },
      transports: [tcp({ host: '127.0.0.1' })],
      maxMessageSize: MAX_MESSAGE_SIZE,
    })
    await node.start()
    conn = await node.connect({ peerId: info.peerId, addresses: info.addresses })
    close = () => node.stop()
  } else {
    conn = await RawClient.connect(info.port, await rawTlsOptions('client'))
    close = () => conn.close()
  }
  const payload = Buffer.alloc(1024, 0x62)
  let issued = 0
  const worker = async () => {
    while (issued < total) {
      issued++
      await conn.request(payload)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: inFlight }, worker))
  const seconds = (performance.now() - start) / 1000
  process.stderr.write(`${impl}: ${total} requests, ${inFlight} in flight: ${Math.round(total / seconds)} msg/s\n`)
  await close()
  child.send({ id: 2, cmd: 'stop' })
  await reply(2)
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`)
  exitCode = 1
} finally {
  // Let the child exit on its own (so it writes its profile), then make sure it is gone.
  child.disconnect()
  await Promise.race([new Promise((resolve) => child.once('exit', resolve)), new Promise((r) => setTimeout(r, 5000))])
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}
process.exit(exitCode)
