// What an idle Crust QUIC connection holds on the listener, from heap snapshots:
//
//   npx tsc -b && node packages/transport-quic/bench/idle-heap.mjs [connections=200] [dir=/tmp/idle-heap]
//
// The listener runs in a child (quic-bench.mjs's server mode); this process
// opens 5 client connections, has the child write a snapshot after a full
// collection, opens `connections` more, and writes a second. Objects in the
// second snapshot and not in the first (V8 keeps object ids across snapshots)
// are then summed per connection: by type and constructor name, and by the
// nearest object of a named class that dominates them (what would go with it).
// Compiled code grows with the run too (a few KB per connection at 200): read
// the `code` rows as warm-up, not as per-connection state.
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openIdleClients } from './idle-clients.mjs'
import { serverChild } from './server-child.mjs'

const count = Number(process.argv[2] ?? 200)
const dir = process.argv[3] ?? '/tmp/idle-heap'
mkdirSync(dir, { recursive: true })

const { call, ready, stop } = serverChild(['--expose-gc'])
await ready

const nodes = []
try {
  const contact = await call({ cmd: 'start', impl: 'crust-quic' })
  const open = (n) => openIdleClients({ peerId: contact.peerId, addresses: contact.addresses }, n, nodes)
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1000))
  await open(5)
  await settle()
  const before = (await call({ cmd: 'snapshot', file: join(dir, 'before.heapsnapshot') })).file
  await open(count)
  await settle()
  const after = (await call({ cmd: 'snapshot', file: join(dir, 'after.heapsnapshot') })).file
  report(before, after, count)
} finally {
  await Promise.allSettled(nodes.map((node) => node.stop()))
  await stop()
}

/** Print the per-connection summary of objects new in `after`. */
function report(beforeFile, afterFile, n) {
  const ids = new Set()
  {
    const snapshot = JSON.parse(readFileSync(beforeFile, 'utf8'))
    const fields = snapshot.snapshot.meta.node_fields
    for (let i = fields.indexOf('id'); i < snapshot.nodes.length; i += fields.length) ids.add(snapshot.nodes[i])
  }
  const s = JSON.parse(readFileSync(afterFile, 'utf8'))
  const meta = s.snapshot.meta
  const nf = meta.node_fields.length
  const ef = meta.edge_fields.length
  const [fType, fName, fId, fSize, fEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f))
  const [eType, eTo] = ['type', 'to_node'].map((f) => meta.edge_fields.indexOf(f))
  const types = meta.node_types[0]
  const weak = meta.edge_types[0].indexOf('weak')
  const total = s.nodes.length / nf
  const first = new Uint32Array(total + 1)
  for (let v = 0, e = 0; v < total; v++) {
    first[v] = e
    e += s.nodes[v * nf + fEdges] * ef
    first[v + 1] = e
  }
  const type = (v) => types[s.nodes[v * nf + fType]]
  const name = (v) => s.strings[s.nodes[v * nf + fName]]
  // Dominators (Cooper, Harvey, Kennedy) over strong edges from the root (node 0).
  const post = new Int32Array(total).fill(-1)
  const order = []
  const seen = new Uint8Array(total)
  const cursor = new Uint32Array(total)
  const stack = [0]
  seen[0] = 1
  cursor[0] = first[0]
  while (stack.length > 0) {
    const v = stack[stack.length - 1]
    if (cursor[v] < first[v + 1]) {
      const e = cursor[v]
      cursor[v] += ef
      if (s.edges[e + eType] === weak) continue
      const w = s.edges[e + eTo] / nf
      if (!seen[w]) {
        seen[w] = 1
        cursor[w] = first[w]
        stack.push(w)
      }
    } else {
      stack.pop()
      post[v] = order.length
      order.push(v)
    }
  }
  const predStart = new Uint32Array(total + 1)
  const forEachStrong = (fn) => {
    for (let v = 0; v < total; v++) {
      if (!seen[v]) continue
      for (let e = first[v]; e < first[v + 1]; e += ef) if (s.edges[e + eType] !== weak) fn(v, s.edges[e + eTo] / nf)
    }
  }
  forEachStrong((_, w) => predStart[w + 1]++)
  for (let v = 0; v < total; v++) predStart[v + 1] += predStart[v]
  const preds = new Uint32Array(predStart[total])
  const fill = predStart.slice()
  forEachStrong((v, w) => {
    preds[fill[w]++] = v
  })
  const idom = new Int32Array(total).fill(-1)
  idom[0] = 0
  const intersect = (a, b) => {
    while (a !== b) {
      while (post[a] < post[b]) a = idom[a]
      while (post[b] < post[a]) b = idom[b]
    }
    return a
  }
  for (let changed = true; changed; ) {
    changed = false
    for (let k = order.length - 2; k >= 0; k--) {
      const v = order[k]
      let dom = -1
      for (let p = predStart[v]; p < predStart[v + 1]; p++) {
        const u = preds[p]
        if (idom[u] !== -1) dom = dom === -1 ? u : intersect(u, dom)
      }
      if (dom !== idom[v]) {
        idom[v] = dom
        changed = true
      }
    }
  }
  const plain = new Set(['Object', 'Array', 'Promise', 'Map', 'Set', 'WeakMap', 'WeakSet', 'Function'])
  const named = (v) => type(v) === 'object' && /^[A-Z]/.test(name(v)) && !plain.has(name(v)) && !name(v).startsWith('system')
  const byKind = new Map()
  const byOwner = new Map()
  let sum = 0
  for (let v = 0; v < total; v++) {
    if (!seen[v] || ids.has(s.nodes[v * nf + fId])) continue
    const size = s.nodes[v * nf + fSize]
    sum += size
    const kind = `${type(v)}:${['string', 'concatenated string', 'sliced string'].includes(type(v)) ? '(string)' : name(v).slice(0, 50)}`
    const entry = byKind.get(kind) ?? { count: 0, size: 0 }
    entry.count++
    entry.size += size
    byKind.set(kind, entry)
    let owner = v
    while (owner !== 0 && !named(owner)) owner = idom[owner]
    const key = owner === 0 ? '(shared or held from several places)' : name(owner) === 'constructor_' ? '@matrixai/quic class (constructor_)' : name(owner)
    byOwner.set(key, (byOwner.get(key) ?? 0) + size)
  }
  const kb = (bytes) => `${(bytes / n / 1024).toFixed(2)} KB`.padStart(9)
  console.log(`${n} idle connections: ${kb(sum)} of new objects per connection (self sizes)\n\nby type:constructor (count per connection)`)
  for (const [kind, { count: c, size }] of [...byKind].sort((a, b) => b[1].size - a[1].size).slice(0, 40)) console.log(`${kb(size)} ${(c / n).toFixed(2).padStart(6)}  ${kind}`)
  console.log('\nby nearest dominating object of a named class')
  for (const [owner, size] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${kb(size)}  ${owner}`)
}
