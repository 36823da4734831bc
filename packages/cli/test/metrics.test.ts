/**
 * `crust start --metrics`: the real binary serves Prometheus text at
 * /metrics, scraped over HTTP after a node in this process connected to it
 * and sent it a message.
 */
import { join } from 'node:path'
import { type CrustNode, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { afterAll, describe, expect, it } from 'vitest'
import { parsePrometheusText, sampleValue } from '../../metrics-prometheus/test/parse.js'
import { StartedNode, crust, tempDir } from './helpers.js'

describe('crust start --metrics', () => {
  let peer: CrustNode | undefined

  afterAll(async () => {
    await peer?.stop()
  })

  it('serves /metrics: the connection a peer made and the bytes it sent', async () => {
    const dir = await tempDir()
    const node = await StartedNode.start([
      '--listen',
      'tcp://127.0.0.1:0',
      '--data-dir',
      dir,
      '--control',
      join(dir, 'control.sock'),
      '--network',
      'cli-metrics',
      '--metrics',
      '127.0.0.1:0',
    ])
    const url = (node.ready as unknown as { metrics: string }).metrics
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)

    peer = await createNode({ networkName: 'cli-metrics', transports: [tcp({ host: '127.0.0.1' })], logLevel: 'silent', bootstrap: { cache: false } })
    await peer.start()
    const connection = await peer.connect({ peerId: node.ready.peerId, addresses: node.ready.addresses })
    await connection.send(Buffer.from('hello metrics'))
    await node.waitFor((line) => line.event === 'message')

    const response = await fetch(url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    const samples = parsePrometheusText(await response.text())
    expect(sampleValue(samples, 'crust_connections', { transport: 'tcp', method: 'direct', direction: 'inbound' })).toBe(1)
    expect(sampleValue(samples, 'crust_bytes_total', { direction: 'in' })).toBe('hello metrics'.length)
    expect(sampleValue(samples, 'crust_messages_total', { direction: 'in' })).toBe(1)
    expect(sampleValue(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404)
    expect(await node.stop()).toBe(0)
  })

  it('a malformed --metrics is a usage error', async () => {
    const run = await crust(['start', '--metrics', 'localhost'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/--metrics takes host:port/)
  })
})
