/** What the progress line shows. */
export interface ProgressState {
  scenario: string
  phase: string
  index: number
  total: number
  stage: 'set-up' | 'warm-up' | 'load' | 'settle'
  elapsedSeconds: number
  durationSeconds: number
  requests: number
  ratePerSec: number
  errors: number
  dropped: number
}

/**
 * The live progress line: rewritten in place on a terminal, one line every few seconds otherwise
 * (CI logs). Notes and the lines of other output go above it.
 */
export class Progress {
  private readonly tty: boolean
  private lastLine = 0
  private shown = false

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = !!out.isTTY
  }

  update(s: ProgressState): void {
    if (this.quiet) return
    const line =
      `[${s.scenario} ${s.index + 1}/${s.total}] ${s.phase} ${s.stage} ${s.elapsedSeconds.toFixed(1)}/${s.durationSeconds.toFixed(0)} s` +
      ` · ${s.requests} req · ${Math.round(s.ratePerSec)} req/s · ${s.errors} errors${s.dropped ? ` · ${s.dropped} dropped` : ''}`
    if (this.tty) {
      this.out.write(`\r\x1b[K${line}`)
      this.shown = true
    } else if (Date.now() - this.lastLine >= 5000) {
      this.out.write(`${line}\n`)
      this.lastLine = Date.now()
    }
  }

  /** A line that stays (set-up steps, notes, a finished phase). */
  log(message: string): void {
    if (this.quiet) return
    this.clear()
    this.out.write(`${message}\n`)
  }

  clear(): void {
    if (this.tty && this.shown) {
      this.out.write('\r\x1b[K')
      this.shown = false
    }
  }
}
