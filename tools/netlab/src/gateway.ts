/**
 * A `upnp` / `pcp` router's port-mapping daemon (miniupnpd) as a test drives
 * it: stop it, start it (a gateway that appears after the nodes), or reboot
 * the router's port-mapping state the way a power cycle does.
 */
import { execFile } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { flushConntrack } from './net-events.js'
import { type LabRouter, type NatLab, runGateway } from './nat-lab.js'

const run = promisify(execFile)

function gatewayOf(router: LabRouter): NonNullable<LabRouter['gateway']> {
  if (router.gateway === undefined) throw new Error(`router ${router.name} (${router.kind}) runs no port-mapping daemon`)
  return router.gateway
}

/** Pids of the miniupnpd processes in the router's namespace. */
async function daemonPids(router: LabRouter): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'pids', router.ns]).catch(() => ({ stdout: '' }))
  const pids: number[] = []
  for (const pid of stdout.split(/\s+/).filter(Boolean)) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')
    if (comm.trim() === 'miniupnpd') pids.push(Number(pid))
  }
  return pids
}

/** Kill the router's miniupnpd at once (SIGKILL: it removes nothing) and wait until it is gone. */
export async function stopGateway(_lab: NatLab, router: LabRouter): Promise<void> {
  gatewayOf(router)
  for (const pid of await daemonPids(router)) process.kill(pid, 'SIGKILL')
  const deadline = Date.now() + 5000
  while ((await daemonPids(router)).length > 0) {
    if (Date.now() > deadline) throw new Error(`miniupnpd in ${router.ns} outlived SIGKILL`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Start the router's miniupnpd (again) and wait until it listens. */
export async function startGateway(lab: NatLab, router: LabRouter): Promise<void> {
  await runGateway(lab.lab, router.ns, gatewayOf(router), router.kind)
}

/**
 * Reboot the router's port-mapping state: kill miniupnpd, drop every
 * forwarding rule it made and its lease file, flush conntrack, start it
 * again. Its mappings are gone and its PCP / NAT-PMP epoch starts from 0, as
 * after a power cycle. Returns when the new daemon listens.
 */
export async function rebootGateway(lab: NatLab, router: LabRouter): Promise<void> {
  const gateway = gatewayOf(router)
  await stopGateway(lab, router)
  await lab.lab.nft(router.ns, ['flush chain inet filter miniupnpd', 'flush chain inet filter prerouting_miniupnpd', 'flush chain inet filter postrouting_miniupnpd', ''].join('\n'))
  await rm(gateway.leaseFile, { force: true })
  await flushConntrack(lab, router)
  await startGateway(lab, router)
}

/**
 * The mappings the router's miniupnpd holds, from its lease file (UPnP, PCP
 * and NAT-PMP alike): `TCP:40001:10.1.0.2:40001:<expiry>:<description>` lines.
 * miniupnpd writes it on changes; empty when it holds none.
 */
export async function gatewayLeases(router: LabRouter): Promise<string[]> {
  const text = await readFile(gatewayOf(router).leaseFile, 'utf8').catch(() => '')
  return text.split('\n').filter((line) => /^(TCP|UDP):\d+:/.test(line))
}
