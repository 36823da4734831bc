import { spawnSync } from 'node:child_process'

/** Whether this process can build a lab, and if not, why. */
export type LabSupport = { readonly ok: true } | { readonly ok: false; readonly reason: string }

/**
 * Labs need Linux, root (CI runs as root), `ip` (iproute2) and `nft`
 * (nftables). Tests call this and skip loudly, saying why, when it fails.
 */
export function labSupport(): LabSupport {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (CI runs as root)' }
  for (const tool of ['ip', 'nft']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return { ok: false, reason: `'${tool}' is not installed (apt-get install iproute2 nftables)` }
    }
  }
  return { ok: true }
}

/** Print a loud banner explaining a skipped lab test. */
export function announceSkip(what: string, reason: string): void {
  const line = '!'.repeat(78)
  process.stderr.write(`\n${line}\n!! SKIPPED: ${what}\n!! because ${reason}\n${line}\n\n`)
}
