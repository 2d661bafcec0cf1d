import type { Summary } from './stats.js'

export type SectionId = 'hit' | 'strategies' | 'metrics' | 'peer' | 'stampede' | 'scaling'

/** One figure of the report: a ratio (or a count) with its median and spread over the rounds. */
export interface Figure {
  section: SectionId
  id: string
  name: string
  unit: 'ratio' | 'loads per expiry'
  summary: Summary
  /** The goal for this figure, when it has one. */
  goal?: { op: '>=' | '<='; value: number }
  met?: boolean
  /** Same comparison in server CPU time per request (bare/ours): moves less with the machine's other load. */
  cpu?: Summary
  note?: string
}

export function withGoal(f: Omit<Figure, 'met'>): Figure {
  if (!f.goal) return f
  const m = f.summary.median
  return { ...f, met: Number.isFinite(m) && (f.goal.op === '>=' ? m >= f.goal.value : m <= f.goal.value) }
}

const SECTION_TITLES: Record<SectionId, string> = {
  hit: '1. hit path vs bare route',
  strategies: '2. strategy cost (hit path)',
  metrics: '3. metrics cost',
  peer: '4. real peer (bentocache)',
  stampede: '4. DB loads per hot-key expiry',
  scaling: '5. scaling',
}

function fmt(x: number, unit: Figure['unit']): string {
  if (!Number.isFinite(x)) return 'n/a'
  return unit === 'ratio' ? x.toFixed(3) : x.toFixed(1)
}

/** The table printed at the end of a run. */
export function formatTable(figures: Figure[]): string {
  const rows = figures.map((f) => [
    SECTION_TITLES[f.section],
    f.name,
    fmt(f.summary.median, f.unit),
    `${fmt(f.summary.min, f.unit)} – ${fmt(f.summary.max, f.unit)}`,
    f.cpu ? fmt(f.cpu.median, 'ratio') : '',
    f.goal ? `${f.goal.op} ${f.goal.value}` : '',
    f.met === undefined ? '' : f.met ? 'met' : 'MISSED',
  ])
  const head = ['section', 'figure', 'median', 'spread (min – max)', 'cpu ratio', 'goal', '']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')]
  let last = ''
  for (const r of rows) {
    out.push(line(r[0] === last ? ['', ...r.slice(1)] : r))
    last = r[0]!
  }
  return out.join('\n')
}
