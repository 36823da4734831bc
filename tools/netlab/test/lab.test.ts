import { afterEach, describe, expect, it } from 'vitest'
import { LabCallError, LabHost, NetLab, announceSkip, labSupport } from '../src/index.js'

const support = labSupport()
if (!support.ok) announceSkip('network-namespace lab tests (tools/netlab)', support.reason)

describe.runIf(support.ok)('network-namespace lab', () => {
  let lab: NetLab | undefined
  afterEach(async () => {
    await lab?.destroy()
    lab = undefined
  })

  it('runs two Crust nodes in separate namespaces that talk over TCP, and a firewall rule can silence TCP', async () => {
    lab = NetLab.create()
    const a = await lab.addNamespace('a')
    const b = await lab.addNamespace('b')
    await lab.link(a, '192.0.2.1/24', b, '192.0.2.2/24')
    const hostB = await LabHost.start(lab, b, { config: {}, transports: [{ kind: 'tcp', options: { host: '192.0.2.2', port: 4001 } }] })
    const hostA = await LabHost.start(lab, a, { config: {}, transports: [{ kind: 'tcp', options: { host: '192.0.2.1' } }] })
    expect(hostB.addresses).toEqual(['tcp://192.0.2.2:4001'])

    const joined = (await hostA.call('connect', { peer: { peerId: hostB.peerId, addresses: hostB.addresses } })) as { transport: string }
    expect(joined.transport).toBe('tcp')
    expect(await hostA.call('request', { peerId: hostB.peerId, data: 'hi' })).toBe('echo:hi')
    await hostA.call('stop')

    // Drop every TCP SYN to b's port: a's dial now gets no answer at all.
    await lab.nft(b, 'table inet fw {\n chain input {\n type filter hook input priority 0;\n tcp dport 4001 drop\n }\n}\n')
    const hostC = await LabHost.start(lab, a, {
      config: { connection: { dialTimeout: 1000 } },
      transports: [{ kind: 'tcp', options: { host: '192.0.2.1' } }],
    })
    const started = Date.now()
    const failure = await hostC.call('connect', { peer: { peerId: hostB.peerId, addresses: hostB.addresses } }).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(LabCallError)
    expect((failure as LabCallError).code).toBe('ERR_TIMEOUT')
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
  })
})
