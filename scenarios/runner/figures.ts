import type { Histogram } from 'hdr-histogram-js'
import type { MetricsWindow } from './prom.js'
import type { FigureDeclaration, PhaseResult, Result } from './schemas.js'
import type { RequestRecord, StandardFigures } from './types.js'

/** Figures every phase has, with what "better" means (for reports, baselines and --update margins). */
export const STANDARD_FIGURES: (FigureDeclaration & { label: string })[] = [
  { name: 'hitRatio', label: 'hit ratio', description: 'hits / cache lookups', better: 'higher', unit: 'ratio' },
  { name: 'dbQueriesPer1k', label: 'DB queries per 1000 requests', description: 'queries sent to MySQL per 1000 requests', better: 'lower', unit: 'queries' },
  { name: 'dbQueries', label: 'DB queries', description: 'queries sent to MySQL during the phase', better: 'lower', unit: 'queries' },
  { name: 'errors', label: 'errors', description: 'transport failures, timeouts and 5xx answers', better: 'lower', unit: 'requests' },
  { name: 'dropped', label: 'dropped requests', description: 'requests due that could not be sent', better: 'lower', unit: 'requests' },
  { name: 'requests', label: 'requests', description: 'measured requests', better: 'none', unit: 'requests' },
  { name: 'throughputPerSec', label: 'throughput', description: 'requests answered per second', better: 'higher', unit: 'req/s' },
  { name: 'latencyMs.p50', label: 'p50 latency', description: 'median latency', better: 'lower', unit: 'ms' },
  { name: 'latencyMs.p99', label: 'p99 latency', description: '99th percentile latency', better: 'lower', unit: 'ms' },
  { name: 'latencyMs.max', label: 'max latency', description: 'slowest request', better: 'lower', unit: 'ms' },
]

export const DEFAULT_HEADLINE = ['hitRatio', 'dbQueriesPer1k']

/** Declaration of a figure (standard or effect) by name. */
export function declarationOf(name: string, effects: FigureDeclaration[]): FigureDeclaration & { label: string } {
  const std = STANDARD_FIGURES.find((f) => f.name === name)
  if (std) return std
  const eff = effects.find((f) => f.name === name)
  const label = eff?.label ?? name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
  return { name, description: eff?.description ?? name, better: eff?.better ?? 'none', ...(eff?.unit ? { unit: eff.unit } : {}), label }
}

/** A figure of a phase by name: an effect figure, or a standard one (dotted paths like latencyMs.p99). */
export function figureValue(phase: PhaseResult, name: string): number | null | undefined {
  if (name in phase.effect) return phase.effect[name]
  let v: unknown = phase
  for (const part of name.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined
  return typeof v === 'number' || v === null ? v : undefined
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

/** The standard figures of a phase, from the client's records and the service's /metrics deltas. */
export function standardFigures(records: RequestRecord[], dropped: number, window: MetricsWindow, histogram: Histogram, measuredSeconds: number): StandardFigures {
  const statuses: Record<string, number> = {}
  let errors = 0
  for (const r of records) {
    statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1
    if (r.status === 0 || r.status >= 500) errors++
  }
  const lookups = window.deltaBy('cachelab_cache_lookups_total', 'outcome')
  const totalLookups = Object.values(lookups).reduce((s, v) => s + v, 0)
  const dbQueriesByOperation = window.deltaBy('cachelab_db_queries_total', 'operation')
  const dbQueries = Object.values(dbQueriesByOperation).reduce((s, v) => s + v, 0)
  const ms = (us: number) => round(us / 1000, 3)
  const n = histogram.totalCount
  return {
    durationSeconds: round(measuredSeconds, 3),
    requests: records.length,
    errors,
    dropped,
    statuses,
    throughputPerSec: round(records.length / Math.max(measuredSeconds, 0.001), 1),
    hitRatio: totalLookups > 0 ? round((lookups.hit ?? 0) / totalLookups, 4) : null,
    lookups,
    dbQueries,
    dbQueriesByOperation,
    dbQueriesPer1k: records.length > 0 ? round((dbQueries / records.length) * 1000, 1) : null,
    latencyMs: {
      p50: n ? ms(histogram.getValueAtPercentile(50)) : null,
      p90: n ? ms(histogram.getValueAtPercentile(90)) : null,
      p99: n ? ms(histogram.getValueAtPercentile(99)) : null,
      max: n ? ms(histogram.maxValue) : null,
      mean: n ? ms(histogram.mean) : null,
    },
  }
}

/** A figure for people: ratios as percentages, the rest with sensible precision. */
export function formatFigure(v: number | null | undefined, unit?: string): string {
  if (v === null || v === undefined) return '–'
  if (unit === 'ratio') return `${round(v * 100, 1)}%`
  if (Math.abs(v) >= 100) return String(Math.round(v))
  if (Math.abs(v) >= 10) return String(round(v, 1))
  return String(round(v, 2))
}

/**
 * One sentence per scenario saying what each phase changed against the first one, for the
 * headline figures, from the measured values.
 */
export function summarize(result: Pick<Result, 'scenario' | 'phases' | 'effects' | 'headline'>): string {
  const [ref, ...others] = result.phases
  if (!ref) return `${result.scenario}: no phase ran.`
  if (others.length === 0) return `${result.scenario}: only ${ref.name} ran, so there is nothing to compare it with.`
  const clauses = others.map((p) => {
    const changes: string[] = []
    for (const name of result.headline) {
      const d = declarationOf(name, result.effects)
      const a = figureValue(ref, name)
      const b = figureValue(p, name)
      if (a === null || a === undefined || b === null || b === undefined) continue
      const fa = formatFigure(a, d.unit)
      const fb = formatFigure(b, d.unit)
      const rel = a !== 0 ? (b - a) / Math.abs(a) : b === 0 ? 0 : Infinity
      if (fa === fb || Math.abs(rel) < 0.02) {
        changes.push(`kept the ${d.label} at ${fb}`)
        continue
      }
      const up = b > a
      const good = d.better === 'none' ? undefined : (d.better === 'higher') === up
      const pct = Number.isFinite(rel) && d.unit !== 'ratio' ? ` (${up ? '+' : '−'}${Math.round(Math.abs(rel) * 100)}%)` : ''
      const verb = up ? 'raised' : good ? 'cut' : 'lowered'
      changes.push(`${verb} the ${d.label} from ${fa} to ${fb}${pct}${good === false ? ', which is worse' : ''}`)
    }
    return `${p.name} ${changes.length ? joinClauses(changes) : 'could not be compared (no figures)'}`
  })
  return `${result.scenario}: against ${ref.name}, ${joinClauses(clauses, '; ')}.`
}

function joinClauses(parts: string[], sep = ', '): string {
  if (parts.length <= 1) return parts.join('')
  return sep === ', ' ? `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}` : parts.join(sep)
}
