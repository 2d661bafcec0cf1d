import { describe, expect, it } from 'vitest'
import { compare, formatChecks, updatedBaselines } from '../../scenarios/runner/baselines.js'
import { summarize } from '../../scenarios/runner/figures.js'
import type { Baselines, PhaseResult, Result } from '../../scenarios/runner/schemas.js'

// Results are built by hand here: these tests are about comparing figures, not measuring them.
function phase(name: string, figures: Partial<PhaseResult>): PhaseResult {
  return {
    name,
    strategies: {},
    strategyParams: {},
    durationSeconds: 5,
    requests: 1000,
    errors: 0,
    dropped: 0,
    statuses: { '200': 1000 },
    throughputPerSec: 200,
    hitRatio: 0.5,
    lookups: {},
    dbQueries: 500,
    dbQueriesByOperation: {},
    dbQueriesPer1k: 500,
    latencyMs: { p50: 1, p90: 2, p99: 5, max: 9, mean: 1.5 },
    effect: {},
    events: [],
    series: { intervalMs: 500, t: [], requestsPerSec: [], errorsPerSec: [], dbQueriesPerSec: [], hitRatio: [], p99Ms: [], dbInFlight: [], clientInFlight: [], extra: {} },
    ...figures,
  }
}

function result(phases: PhaseResult[]): Result {
  const r: Result = {
    scenario: 'demo',
    title: 'demo',
    quick: true,
    seed: 1,
    startedAt: new Date(0).toISOString(),
    durationSeconds: 10,
    target: { mode: 'local', baseUrl: 'http://127.0.0.1:1', replicas: 1 },
    effects: [
      { name: 'ordersLost', description: 'accepted orders missing from MySQL', better: 'lower' },
      { name: 'dbLoadsPerExpiry', description: 'loads per expiry', better: 'lower' },
    ],
    headline: ['hitRatio', 'dbQueriesPer1k', 'dbLoadsPerExpiry'],
    summary: '',
    phases,
  }
  r.summary = summarize(r)
  return r
}

const baselines: Baselines = {
  scenarios: {
    demo: {
      none: { dbQueriesPer1k: { max: 900 } },
      mutex: { hitRatio: { min: 0.8, abovePhase: 'none' }, dbQueriesPer1k: { max: 120, belowPhase: 'none' }, ordersLost: { equals: 0 }, dbLoadsPerExpiry: { max: 1.6 } },
    },
  },
}

describe('lab:ci baselines', () => {
  it('passes when every figure is within its expectation', () => {
    const r = result([phase('none', { hitRatio: 0.4, dbQueriesPer1k: 600 }), phase('mutex', { hitRatio: 0.95, dbQueriesPer1k: 50, effect: { ordersLost: 0, dbLoadsPerExpiry: 1 } })])
    const checks = compare([r], baselines)
    expect(checks.every((c) => c.ok)).toBe(true)
    expect(formatChecks(checks)).toContain('5 passed, 0 failed')
  })

  it('fails a regression with a readable line per figure: measured, expected, and the phase it is compared with', () => {
    const r = result([phase('none', { hitRatio: 0.4, dbQueriesPer1k: 600 }), phase('mutex', { hitRatio: 0.3, dbQueriesPer1k: 640, effect: { ordersLost: 2, dbLoadsPerExpiry: null } })])
    const text = formatChecks(compare([r], baselines))
    expect(text).toContain('1 passed, 4 failed')
    expect(text).toContain('demo mutex hitRatio: measured 30% (none: 40%), expected ≥ 80%, > none')
    expect(text).toContain('demo mutex dbQueriesPer1k: measured 640 (none: 600), expected ≤ 120, < none')
    expect(text).toContain('demo mutex ordersLost: measured 2, expected = 0')
    expect(text).toContain('demo mutex dbLoadsPerExpiry: measured not measured, expected ≤ 1.6')
  })

  it('fails when a scenario or phase has no baseline, or a baseline phase did not run', () => {
    const other = { ...result([phase('none', {})]), scenario: 'other' }
    const demo = result([phase('none', {}), phase('extra', {})])
    const text = formatChecks(compare([other, demo], baselines))
    expect(text).toContain('other * *: measured ran, expected no baseline: run npm run lab:ci -- --update')
    expect(text).toContain('demo extra *: measured ran, expected no baseline for this phase')
    expect(text).toContain('demo mutex *: measured did not run')
  })

  it('--update rewrites min/max with margins in the better direction and keeps hand-set promises', () => {
    const r = result([phase('none', { hitRatio: 0.4, dbQueriesPer1k: 600 }), phase('mutex', { hitRatio: 0.95, dbQueriesPer1k: 50, effect: { ordersLost: 0, dbLoadsPerExpiry: 1 } })])
    const next = updatedBaselines([r], baselines)
    expect(next.scenarios.demo!.mutex).toEqual({
      hitRatio: { min: 0.85, abovePhase: 'none' },
      dbQueriesPer1k: { max: 76, belowPhase: 'none' },
      ordersLost: { equals: 0 },
      dbLoadsPerExpiry: { max: 2.5 },
    })
    expect(next.scenarios.demo!.none).toEqual({ hitRatio: { min: 0.3 }, dbQueriesPer1k: { max: 901 } })
    // The run it was made from passes it.
    expect(compare([r], next).every((c) => c.ok)).toBe(true)
  })

  it('--update keeps a hand-set bound on the side it does not compute (a floor of a lower-is-better figure)', () => {
    const handSet: Baselines = { scenarios: { demo: { none: { dbQueriesPer1k: { min: 450, max: 700 }, hitRatio: { min: 0.1, max: 0.6 } } } } }
    const r = result([phase('none', { hitRatio: 0.4, dbQueriesPer1k: 600 })])
    const next = updatedBaselines([r], handSet)
    // max of the lower-is-better figure and min of the higher-is-better one come from the run.
    expect(next.scenarios.demo!.none).toEqual({ dbQueriesPer1k: { min: 450, max: 901 }, hitRatio: { min: 0.3, max: 0.6 } })
  })

  it('phaseFactor scales the other phase\'s figure in a phase comparison, and --update keeps it', () => {
    const third: Baselines = { scenarios: { demo: { none: {}, mutex: { dbQueriesPer1k: { belowPhase: 'none', phaseFactor: 0.3333 } } } } }
    const run = (mutexPer1k: number) => result([phase('none', { dbQueriesPer1k: 600 }), phase('mutex', { dbQueriesPer1k: mutexPer1k })])
    expect(compare([run(150)], third).every((c) => c.ok)).toBe(true)
    const text = formatChecks(compare([run(250)], third))
    expect(text).toContain('demo mutex dbQueriesPer1k: measured 250 (none: 600), expected < none × 0.3333')
    expect(updatedBaselines([run(150)], third).scenarios.demo!.mutex!.dbQueriesPer1k).toEqual({ belowPhase: 'none', phaseFactor: 0.3333, max: 226 })
  })

  it('says in one sentence what each phase changed against the first, from the figures', () => {
    const r = result([phase('none', { hitRatio: 0.4, dbQueriesPer1k: 600, effect: { ordersLost: 0, dbLoadsPerExpiry: 40 } }), phase('mutex', { hitRatio: 0.95, dbQueriesPer1k: 50, effect: { ordersLost: 0, dbLoadsPerExpiry: 1 } })])
    expect(r.summary).toBe('demo: against none, mutex raised the hit ratio from 40% to 95%, cut the DB queries per 1000 requests from 600 to 50 (−92%) and cut the db loads per expiry from 40 to 1 (−98%).')
    const worse = result([phase('none', { hitRatio: 0.9 }), phase('mutex', { hitRatio: 0.5 })])
    expect(worse.summary).toContain('lowered the hit ratio from 90% to 50%, which is worse')
  })
})
