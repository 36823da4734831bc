// A quic-bench.mjs server child (its `server` mode) for the profile scripts: `call` sends one
// command and resolves with its reply, `ready` settles once the child is up, `stop` ends it
// (SIGKILL if it has not exited within 5 s).
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export function serverChild(execArgv = []) {
  const child = fork(fileURLToPath(new URL('./quic-bench.mjs', import.meta.url)), ['server'], { execArgv, stdio: ['ignore', 2, 2, 'ipc'] })
  let nextId = 0
  const call = (message) =>
    new Promise((resolve, reject) => {
      const id = ++nextId
      const onMessage = (reply) => {
        if (reply.id !== id) return
        child.off('message', onMessage)
        reply.ok ? resolve(reply) : reject(new Error(reply.error))
      }
      child.on('message', onMessage)
      child.send({ id, ...message })
    })
  const ready = new Promise((resolve) => child.once('message', resolve))
  const stop = async () => {
    await call({ cmd: 'stop' }).catch(() => {})
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), new Promise((r) => setTimeout(r, 5000))])
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  return { call, ready, stop }
}
