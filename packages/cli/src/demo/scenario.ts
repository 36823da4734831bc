/**
 * The demo itself: real nodes on this machine find each other by LAN
 * beacon, connect over TCP, fall back to QUIC when a node's TCP is
 * firewalled, exchange messages and requests, blacklist a peer, and re-join
 * from the bootstrap cache after a restart, narrated step by step.
 *
 * @packageDocumentation
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Connection, type CrustNode, createLogger, defaultCachePath, type NodeEvents, readCacheFile, isCrustError } from '@crust/core'
import { hashNetworkName } from '@crust/core/plugin'
import type { Output } from '../io.js'
import { formatDuration } from '../render/format.js'
import { Cluster, FALLBACK_DELAY, waitFor } from './cluster.js'
import { announce, openSilentPort, type SilentPort } from './firewall.js'
import { Narrator } from './narrator.js'

/** Run the demo, narrating to `out`; resolves to its duration in ms. */
export async function runDemo(out: Output): Promise<number> {
  const narrator = new Narrator(out)
  const dir = await mkdtemp(join(tmpdir(), 'crust-demo-'))
  const cluster = new Cluster(dir)
  let silent: SilentPort | undefined
  try {
    narrator.line('Crust demo: real nodes on this machine, real TCP + TLS 1.3 and QUIC, keys and caches in a temp dir.')
    const names = new Map<string, string>()
    const who = (peerId: string): string => names.get(peerId) ?? `${peerId.slice(0, 12)}…`

    narrator.step('Start three nodes; they find each other by LAN beacon and connect')
    const heard: Array<{ by: string; peerId: string; at: number }> = []
    const t0 = performance.now()
    const start = async (name: string, options?: Parameters<Cluster['start']>[1], listening?: string): Promise<CrustNode> => {
      const node = await cluster.start(name, options)
      names.set(node.peerId, name)
      node.on('peer:discovered', ({ peerId, via }) => {
        if (via === 'beacon') heard.push({ by: name, peerId, at: performance.now() - t0 })
      })
      const addresses = listening ?? node.addresses.map((a) => a.replace('127.0.0.1', 'localhost')).join(', ')
      narrator.say(`${name} is up: peer id ${node.peerId.slice(0, 16)}…, listening on ${addresses}`)
      return node
    }
    const alice = await start('alice')
    const bob = await start('bob')
    const carol = await start('carol')
    const trio = [alice, bob, carol]
    await waitFor('the three nodes connecting to each other', () => trio.every((a) => trio.every((b) => a === b || a.getConnection(b.peerId) !== undefined)))
    const firstHeard = heard[0]
    if (firstHeard) narrator.say(`beacons (loopback mode, nothing leaves the machine): ${firstHeard.by} heard ${who(firstHeard.peerId)} ${formatDuration(firstHeard.at)} after the first start`)
    for (const [a, b] of [
      [alice, bob],
      [alice, carol],
      [bob, carol],
    ] as const) {
      const c = a.getConnection(b.peerId) as Connection
      narrator.say(`${who(a.peerId)} ↔ ${who(b.peerId)}: ${c.transport}, ${c.method}, TLS 1.3 with peer ids verified (dialled by ${c.direction === 'outbound' ? who(a.peerId) : who(b.peerId)})`)
    }

    narrator.step('Messages and requests')
    const received = new Promise<string>((resolve) => {
      bob.handle((message) => {
        const text = Buffer.from(message.data).toString()
        if (!message.isRequest) resolve(`${who(message.peerId)}: "${text}"`)
        return message.isRequest ? Buffer.from(`bob here, you asked: ${text}`) : undefined
      })
    })
    const toBob = await alice.connect({ peerId: bob.peerId, addresses: bob.addresses })
    await toBob.send(Buffer.from('hello from alice'))
    narrator.say(`bob got a message from ${await received}`)
    const answer = await toBob.request(Buffer.from('what did you get?'))
    narrator.say(`alice asked bob a question and got the answer: "${Buffer.from(answer).toString()}"`)
    const count = 1000
    const t1 = performance.now()
    await Promise.all(Array.from({ length: count }, (_, i) => toBob.request(Buffer.from(`#${i}`))))
    const rate = Math.round(count / ((performance.now() - t1) / 1000))
    narrator.say(`alice sent bob ${count} requests at once, each on its own stream: ${rate.toLocaleString('en-US')} requests/s`)

    narrator.step("A node whose TCP is firewalled: the others fall back to QUIC")
    silent = await openSilentPort()
    const fallbacks: Array<NodeEvents['connection:fallback']> = []
    alice.on('connection:fallback', (event) => fallbacks.push(event))
    const dave = await start('dave', { tcp: false, autoConnect: false, services: [announce(silent.address)] }, 'QUIC only')
    narrator.say(`dave also announces ${silent.address.replace('127.0.0.1', 'localhost')}, a TCP port that accepts connections and never answers (a firewall, simulated)`)
    dave.handle((message) => (message.isRequest ? Buffer.from(`dave here, over ${message.connection.transport}`) : undefined))
    await waitFor('alice reaching dave', () => alice.getConnection(dave.peerId) !== undefined)
    const toDave = alice.getConnection(dave.peerId) as Connection
    const fallback = fallbacks.find((e) => e.peerId === dave.peerId)
    narrator.say(
      fallback
        ? `alice found dave by beacon and dialled TCP first; after ${formatDuration(FALLBACK_DELAY)} without an answer she tried QUIC too, and connection:fallback said ${fallback.from} → ${fallback.to}, reason "${fallback.reason}"`
        : `alice reached dave over ${toDave.transport}`,
    )
    const daveAnswer = Buffer.from(await toDave.request(Buffer.from('are you there?'))).toString()
    narrator.say(`alice ↔ dave runs over ${toDave.transport}; dave answered: "${daveAnswer}"`)

    narrator.step('Blacklist')
    const closed = (alice.getConnection(carol.peerId) as Connection).closed
    const carolSide = carol.getConnection(alice.peerId)?.closed
    const t2 = performance.now()
    alice.blacklist.add(carol.peerId)
    const info = await closed
    await carolSide // carol's end learns of the close a moment later
    narrator.say(`alice blacklisted carol: their connection closed at once (${formatDuration(performance.now() - t2)}, "${info.reason}")`)
    const refused = await carol.connect({ peerId: alice.peerId, addresses: alice.addresses }, { retry: false }).catch((error: unknown) => error)
    narrator.say(`carol dialled alice again and was refused on every address: ${refusal(refused, who)}`)

    narrator.step('Restart: bob re-joins from its bootstrap cache')
    await cluster.stop(bob)
    const cacheFile = defaultCachePath(hashNetworkName(cluster.networkName), cluster.cacheDir('bob'))
    const cached = await readCacheFile(cacheFile, hashNetworkName(cluster.networkName), createLogger('silent'))
    narrator.say(`bob stopped; his bootstrap cache on disk lists ${cached.length > 0 ? cached.map((e) => who(e.peerId)).join(', ') : 'nobody'}`)
    const bob2 = await cluster.start('bob', { beacon: false })
    const joinedEvent = bob2.once('bootstrap:joined')
    const t3 = performance.now()
    const joined = await bob2.bootstrap()
    const { source } = await joinedEvent
    narrator.say(
      `bob restarted with the same key, no contacts and no LAN discovery, and re-joined through ${who(joined.peerId)} (from his ${source === 'cache' ? 'bootstrap cache' : source}) over ${joined.transport} in ${formatDuration(performance.now() - t3)}`,
    )
    const elapsed = narrator.elapsed()
    narrator.line(`\nDone in ${formatDuration(elapsed)}: every node stopped, temp dir removed.`)
    return elapsed
  } finally {
    await cluster.stopAll()
    await silent?.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** Why a dial was refused, in a few words, with peer ids replaced by names. */
function refusal(error: unknown, who: (peerId: string) => string): string {
  const named = (text: string): string => text.replace(/bciq[a-z2-7]{20,}/g, (id) => who(id))
  if (isCrustError(error, 'ERR_BLACKLISTED')) return `BlacklistedError: ${named(error.message)}`
  if (isCrustError(error, 'ERR_DIAL_FAILED') && error.errors.length > 0) {
    const reasons = new Set(error.errors.map(({ error: e }) => named(e.message.split(': ').slice(-1)[0] ?? e.message)))
    return `${[...reasons].map((r) => `"${r}"`).join(', ')} (${error.errors.map((e) => e.address.split(':')[0]).join(' and ')})`
  }
  return error instanceof Error ? named(error.message) : 'it connected, which it should not have'
}
