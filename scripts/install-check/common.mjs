// Helpers of the install-check scenarios. These files are copied into a fresh
// project outside the workspace and run against the installed tarballs.
import { randomUUID } from 'node:crypto'

/** A network name no other run uses. */
export function uniqueNetwork() {
  return `crust-install-check-${randomUUID()}`
}

/** Fail the whole scenario if it takes longer than `ms`. */
export function deadline(ms) {
  const timer = setTimeout(() => {
    console.error(`  timed out after ${ms} ms`)
    process.exit(1)
  }, ms)
  return () => clearTimeout(timer)
}

/** Answer every request with `<name> got <text>`; plain messages need no answer. */
export function answerRequests(name, node) {
  node.handle((message) => (message.isRequest ? Buffer.from(`${name} got ${Buffer.from(message.data)}`) : undefined))
}

/** Resolves once `node` receives the plain message `text`. */
export function received(node, text) {
  return new Promise((resolve) => {
    const off = node.on('message', (message) => {
      if (message.isRequest || Buffer.from(message.data).toString() !== text) return
      off()
      resolve()
    })
  })
}

/** `from` sends a message and a request to `to` over `connection`, and checks both arrived. */
export async function exchange(from, to, connection) {
  const text = `hello ${to.name} from ${from.name}`
  const arrived = received(to.node, text)
  await connection.send(Buffer.from(text))
  await arrived
  console.log(`  ${to.name} received "${text}" over ${connection.transport}`)
  const answer = Buffer.from(await connection.request(Buffer.from('ping'))).toString()
  if (answer !== `${to.name} got ping`) throw new Error(`unexpected answer from ${to.name}: "${answer}"`)
  console.log(`  ${from.name} asked ${to.name} and got "${answer}"`)
}
