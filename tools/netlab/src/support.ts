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

/**
 * Whether a lab suite can run here: {@link labSupport}, and every command in
 * `commands` installed (`scripts/lab-deps.sh` installs them). When not, prints
 * the loud banner naming `what` and the reason, and returns false.
 */
export function labReady(what: string, commands: readonly string[] = []): boolean {
  const support = labSupport()
  if (!support.ok) {
    announceSkip(what, support.reason)
    return false
  }
  const missing = commands.filter((command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0)
  if (missing.length === 0) return true
  announceSkip(what, `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed (scripts/lab-deps.sh)`)
  return false
}
