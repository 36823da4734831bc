/**
 * Small formatters shared by tables, progress bars and event lines.
 *
 * @packageDocumentation
 */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** `5242880` → `5.0 MiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`
}

/** A round-trip time: `0.42 ms`, `12.3 ms`, `250 ms`; `-` when unknown. */
export function formatRtt(ms: number | undefined): string {
  if (ms === undefined) return '-'
  if (ms < 10) return `${ms.toFixed(2)} ms`
  if (ms < 100) return `${ms.toFixed(1)} ms`
  return `${Math.round(ms)} ms`
}

/** A duration for humans: `850 ms`, `4.2 s`, `3m 05s`, `2h 01m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const seconds = ms / 1000
  if (seconds < 60) return Number.isInteger(seconds) ? `${seconds} s` : `${seconds.toFixed(1)} s`
  const s = Math.floor(seconds)
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/**
 * `bciqabcdefghij…`: the constant `bciq` prefix plus the ten characters the
 * core's `shortPeerId` logs (kept here so `crust peers` need not load the core).
 */
export function formatPeer(peerId: string): string {
  return peerId.startsWith('bciq') ? `${peerId.slice(0, 14)}…` : peerId.slice(0, 10)
}

/** Wall-clock time of day, `14:03:07`, for event lines. */
export function clock(date = new Date()): string {
  return date.toTimeString().slice(0, 8)
}
