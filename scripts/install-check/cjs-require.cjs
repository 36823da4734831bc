// Scenario: a CommonJS project (package.json "type": "commonjs"). require()s
// every entry point of every installed @crust package (Node >= 20.19 loads
// ES modules through require()), then two TCP nodes made through require()
// exchange a message.
const { readFileSync, readdirSync } = require('node:fs')
const { join } = require('node:path')

const scope = join('node_modules', '@crust')

/** The requirable specifiers of a package: `@crust/x`, `@crust/x/testing`, ... */
function entryPoints(manifest) {
  return Object.keys(manifest.exports ?? { '.': manifest.main })
    .filter((key) => !key.endsWith('.json') && !key.includes('*'))
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`))
}

async function exchangeOverTcp() {
  const { createNode } = require('@crust/core')
  const { tcp } = require('@crust/transport-tcp')
  const options = { networkName: `crust-install-check-cjs-${process.pid}`, bootstrap: { cache: false }, logLevel: 'error' }
  const alice = await createNode({ ...options, transports: [tcp({ host: '127.0.0.1' })] })
  const bob = await createNode({ ...options, transports: [tcp({ host: '127.0.0.1' })] })
  bob.handle((message) => (message.isRequest ? Buffer.from(`bob got ${Buffer.from(message.data)}`) : undefined))
  await alice.start()
  await bob.start()
  try {
    const connection = await alice.connect({ peerId: bob.peerId, addresses: bob.addresses })
    const answer = Buffer.from(await connection.request(Buffer.from('ping'))).toString()
    if (answer !== 'bob got ping') throw new Error(`unexpected answer "${answer}"`)
    console.log(`  require()d nodes: alice asked bob over ${connection.transport} and got "${answer}"`)
  } finally {
    await Promise.all([alice.stop(), bob.stop()])
  }
}

async function main() {
  const timer = setTimeout(() => {
    console.error('  timed out after 30000 ms')
    process.exit(1)
  }, 30_000)
  for (const dir of readdirSync(scope)) {
    const manifest = JSON.parse(readFileSync(join(scope, dir, 'package.json'), 'utf8'))
    for (const specifier of entryPoints(manifest)) {
      const exports = Object.keys(require(specifier))
      if (exports.length === 0) throw new Error(`require('${specifier}') gave no exports`)
      console.log(`  require('${specifier}'): ${exports.length} exports`)
    }
  }
  await exchangeOverTcp()
  clearTimeout(timer)
  console.log('  CommonJS require(): ok')
}

main().catch((error) => {
  console.error('  CommonJS require() failed:', error)
  process.exit(1)
})
