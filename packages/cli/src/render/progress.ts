/**
 * Progress of a transfer: a redrawn bar on a terminal, a few plain lines
 * otherwise (logs and pipes get no carriage returns).
 *
 * @packageDocumentation
 */
import type { Output } from '../io.js'
import { formatBytes } from './format.js'

/** Reports progress of `total` bytes. */
export interface Progress {
  update(done: number): void
  /** Finish the display (the bar's line is ended). */
  done(): void
}

/**
 * A progress display on `out`: on a TTY a bar redrawn in place, at most
 * every 100 ms; elsewhere one line per 25 %.
 */
export function createProgress(out: Output, label: string, total: number): Progress {
  return out.isTTY ? new Bar(out, label, total) : new Steps(out, label, total)
}

/** `label [██████░░░░░░]  42%  2.1/5.0 MiB  12.3 MiB/s` */
export function renderBar(label: string, done: number, total: number, elapsedMs: number, width = 24): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(fraction * width)
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`
  const rate = elapsedMs > 0 ? `  ${formatBytes((done / elapsedMs) * 1000)}/s` : ''
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
  return `${label} [${bar}] ${percent}  ${formatBytes(done)}/${formatBytes(total)}${rate}`
}

class Bar implements Progress {
  private readonly started = performance.now()
  private last = 0
  private current = 0

  constructor(
    private readonly out: Output,
    private readonly label: string,
    private readonly total: number,
  ) {
    this.draw()
  }

  update(done: number): void {
    this.current = done
    const now = performance.now()
    if (now - this.last < 100 && done < this.total) return
    this.last = now
    this.draw()
  }

  done(): void {
    this.draw()
    this.out.write('\n')
  }

  private draw(): void {
    const line = renderBar(this.label, this.current, this.total, performance.now() - this.started)
    const width = this.out.columns ?? 80
    this.out.write(`\r\x1b[2K${line.slice(0, width - 1)}`)
  }
}

class Steps implements Progress {
  private nextStep = 0.25

  constructor(
    private readonly out: Output,
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number): void {
    const fraction = this.total === 0 ? 1 : done / this.total
    if (fraction < this.nextStep || fraction >= 1) return
    while (this.nextStep <= fraction) this.nextStep += 0.25
    this.out.write(`${this.label}: ${Math.floor(fraction * 100)}% (${formatBytes(done)} of ${formatBytes(this.total)})\n`)
  }

  done(): void {}
}
