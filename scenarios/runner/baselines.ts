import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { LabError } from './errors.js'
import { declarationOf, figureValue, formatFigure } from './figures.js'
import { Baselines, type Expectation, type Result } from './schemas.js'
import { textTable } from './table.js'
import { check } from './validate.js'

export const BASELINES_PATH = fileURLToPath(new URL('../baselines.json', import.meta.url))

/** Figures whose min/max `--update` rewrites (others, and every `equals`, are left as set by hand). */
const MANAGED_STANDARD = ['hitRatio', 'dbQueriesPer1k']

export const MARGINS_COMMENT =
  'Expected figures per scenario and phase, checked by `npm run lab:ci` (quick mode). `--update` rewrites min/max of hitRatio, dbQueriesPer1k and every effect with a direction (and no `autoBaseline: false`) from a run, with margins for a noisy shared machine: ratios ±0.10 absolute; other figures max = 1.5 × measured + 1, min = 0.6 × measured. `equals`, `abovePhase`, `belowPhase` (with `phaseFactor`), a `min` of a lower-is-better figure (a `max` of a higher-is-better one) and figures it does not manage are hand-set promises and kept.'

export function loadBaselines(path = BASELINES_PATH): Baselines {
  if (!existsSync(path)) return { scenarios: {} }
  let data: unknown
  try {
    data = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new LabError(`${path} is not valid JSON: ${(err as Error).message}`)
  }
  return check<Baselines>(Baselines, data, path)
}

export interface Check {
  scenario: string
  phase: string
  figure: string
  measured: string
  expected: string
  ok: boolean
}

function describeExpectation(e: Expectation, unit: string | undefined): string {
  const parts: string[] = []
  if (e.equals !== undefined) parts.push(`= ${formatFigure(e.equals, unit)}`)
  if (e.min !== undefined) parts.push(`≥ ${formatFigure(e.min, unit)}`)
  if (e.max !== undefined) parts.push(`≤ ${formatFigure(e.max, unit)}`)
  const times = e.phaseFactor !== undefined && e.phaseFactor !== 1 ? ` × ${e.phaseFactor}` : ''
  if (e.abovePhase) parts.push(`> ${e.abovePhase}${times}`)
  if (e.belowPhase) parts.push(`< ${e.belowPhase}${times}`)
  return parts.join(', ')
}

/** Compares results with the baselines: one check per expected figure, plus missing baselines. */
export function compare(results: Result[], baselines: Baselines): Check[] {
  const checks: Check[] = []
  for (const r of results) {
    const expected = baselines.scenarios[r.scenario]
    if (!expected) {
      checks.push({ scenario: r.scenario, phase: '*', figure: '*', measured: 'ran', expected: 'no baseline: run npm run lab:ci -- --update', ok: false })
      continue
    }
    for (const p of r.phases) {
      if (!expected[p.name]) checks.push({ scenario: r.scenario, phase: p.name, figure: '*', measured: 'ran', expected: 'no baseline for this phase: run npm run lab:ci -- --update', ok: false })
    }
    for (const [phaseName, figures] of Object.entries(expected)) {
      const phase = r.phases.find((p) => p.name === phaseName)
      if (!phase) {
        checks.push({ scenario: r.scenario, phase: phaseName, figure: '*', measured: 'did not run', expected: 'a phase of this name', ok: false })
        continue
      }
      for (const [figure, exp] of Object.entries(figures)) {
        const unit = declarationOf(figure, r.effects).unit
        const v = figureValue(phase, figure)
        const row = { scenario: r.scenario, phase: phaseName, figure, expected: describeExpectation(exp, unit) }
        if (v === undefined || v === null) {
          checks.push({ ...row, measured: v === null ? 'not measured' : 'no such figure', ok: false })
          continue
        }
        let ok = true
        if (exp.equals !== undefined && v !== exp.equals) ok = false
        if (exp.min !== undefined && v < exp.min) ok = false
        if (exp.max !== undefined && v > exp.max) ok = false
        for (const [other, above] of [
          [exp.abovePhase, true],
          [exp.belowPhase, false],
        ] as const) {
          if (!other) continue
          const ref = r.phases.find((p) => p.name === other)
          const raw = ref ? figureValue(ref, figure) : undefined
          const rv = raw === undefined || raw === null ? raw : raw * (exp.phaseFactor ?? 1)
          if (rv === undefined || rv === null || (above ? !(v > rv) : !(v < rv))) ok = false
        }
        const refs = [exp.abovePhase, exp.belowPhase].filter(Boolean).map((o) => {
          const ref = r.phases.find((p) => p.name === o)
          return `${o}: ${ref ? formatFigure(figureValue(ref, figure), unit) : 'did not run'}`
        })
        checks.push({ ...row, measured: `${formatFigure(v, unit)}${refs.length ? ` (${refs.join(', ')})` : ''}`, ok })
      }
    }
  }
  return checks
}

/** The pass/fail table, then one readable line per failure. */
export function formatChecks(checks: Check[]): string {
  const table = textTable([['scenario', 'phase', 'figure', 'measured', 'expected', 'result'], ...checks.map((c) => [c.scenario, c.phase, c.figure, c.measured, c.expected, c.ok ? 'pass' : 'FAIL'])], 3)
  const failed = checks.filter((c) => !c.ok)
  const lines = [table, '', `${checks.length - failed.length} passed, ${failed.length} failed`]
  if (failed.length) {
    lines.push('', 'regressions:')
    for (const c of failed) lines.push(`  ${c.scenario} ${c.phase} ${c.figure}: measured ${c.measured}, expected ${c.expected}`)
  }
  return lines.join('\n')
}

function roundDown(v: number): number {
  return Math.abs(v) >= 10 ? Math.floor(v) : Math.floor(v * 100) / 100
}

function roundUp(v: number): number {
  return Math.abs(v) >= 10 ? Math.ceil(v) : Math.ceil(v * 100) / 100
}

/** New baselines from a run (see MARGINS_COMMENT); scenarios that did not run keep theirs. */
export function updatedBaselines(results: Result[], old: Baselines): Baselines {
  const next: Baselines = { $schema: './baselines.schema.json', comment: MARGINS_COMMENT, scenarios: { ...old.scenarios } }
  for (const r of results) {
    const managed = [...MANAGED_STANDARD, ...r.effects.filter((e) => e.better !== 'none' && e.autoBaseline !== false).map((e) => e.name)]
    const scenario: Record<string, Record<string, Expectation>> = {}
    for (const p of r.phases) {
      const before = old.scenarios[r.scenario]?.[p.name] ?? {}
      const figures: Record<string, Expectation> = {}
      for (const [figure, exp] of Object.entries(before)) if (!managed.includes(figure)) figures[figure] = exp
      for (const figure of managed) {
        const kept: Expectation = {}
        const prev = before[figure]
        const d = declarationOf(figure, r.effects)
        if (prev?.equals !== undefined) kept.equals = prev.equals
        if (prev?.abovePhase) kept.abovePhase = prev.abovePhase
        if (prev?.belowPhase) kept.belowPhase = prev.belowPhase
        if (prev?.phaseFactor !== undefined) kept.phaseFactor = prev.phaseFactor
        // A bound on the side a run does not compute is a hand-set promise (e.g. "without the defense
        // at least 900 queries per 1000" on a lower-is-better figure): kept.
        if (prev?.min !== undefined && d.better === 'lower') kept.min = prev.min
        if (prev?.max !== undefined && d.better === 'higher') kept.max = prev.max
        const v = figureValue(p, figure)
        if (kept.equals === undefined && typeof v === 'number') {
          if (d.unit === 'ratio') {
            if (d.better === 'higher') kept.min = Math.max(0, roundDown(v - 0.1))
            else kept.max = Math.min(1, roundUp(v + 0.1))
          } else if (d.better === 'higher') kept.min = roundDown(v * 0.6)
          else kept.max = roundUp(v * 1.5 + 1)
        }
        if (Object.keys(kept).length > 0) figures[figure] = kept
      }
      scenario[p.name] = figures
    }
    next.scenarios[r.scenario] = scenario
  }
  return check<Baselines>(Baselines, next, 'updated baselines')
}

export function writeBaselines(b: Baselines, path = BASELINES_PATH): void {
  writeFileSync(path, `${JSON.stringify(b, null, 2)}\n`)
}
