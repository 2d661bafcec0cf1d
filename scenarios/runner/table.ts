import { declarationOf, figureValue, formatFigure } from './figures.js'
import type { Result } from './schemas.js'

/** Rows of cells as an aligned text table: text columns (the first `leftColumns`) left-aligned, figures right-aligned. */
export function textTable(rows: string[][], leftColumns = 1): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}

/** The comparison table of one scenario's phases. */
export function resultTable(result: Result): string {
  const effects = result.effects.map((e) => e.name)
  const header = ['phase', 'requests', 'errors', 'hit ratio', 'DB queries', 'DB q/1k req', 'p50 ms', 'p99 ms', ...effects.map((n) => declarationOf(n, result.effects).label)]
  const rows = result.phases.map((p) => [
    p.name,
    String(p.requests) + (p.dropped ? ` (+${p.dropped} dropped)` : ''),
    String(p.errors),
    formatFigure(p.hitRatio, 'ratio'),
    String(p.dbQueries),
    formatFigure(p.dbQueriesPer1k),
    formatFigure(p.latencyMs.p50),
    formatFigure(p.latencyMs.p99),
    ...effects.map((n) => formatFigure(figureValue(p, n), declarationOf(n, result.effects).unit)),
  ])
  return `${result.title} (${result.scenario}${result.quick ? ', quick' : ''}, seed ${result.seed})\n${textTable([header, ...rows])}\n${result.summary}`
}
