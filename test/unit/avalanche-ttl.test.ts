import { describe, expect, it } from 'vitest'
import { Metrics } from '../../services/order-service/src/metrics.js'
import fixedTtl from '../../services/order-service/src/strategies/avalanche/fixed-ttl.js'
import jitter from '../../services/order-service/src/strategies/avalanche/jitter.js'
import { drawTtl, jitterRange } from '../../services/order-service/src/strategies/avalanche/ttl.js'
import { defaultState } from '../../services/order-service/src/strategies/registry.js'
import type { StrategyContext } from '../../services/order-service/src/strategies/types.js'

const ctx = { metrics: new Metrics({ enabled: true, defaultMetrics: false }) } as StrategyContext
const defaults = defaultState().avalanche.params

function draws(ttl: () => number, n: number): number[] {
  return Array.from({ length: n }, ttl)
}

function histogram(values: number[]): Map<number, number> {
  const h = new Map<number, number>()
  for (const v of values) h.set(v, (h.get(v) ?? 0) + 1)
  return h
}

/**
 * Pearson's chi-square statistic of the draws against a uniform distribution over lo..hi, and the
 * value it exceeds with probability 1e-6 if the draws are uniform (Wilson–Hilferty approximation).
 */
function chiSquareUniform(values: number[], lo: number, hi: number): { statistic: number; critical: number } {
  const k = hi - lo + 1
  const expected = values.length / k
  const h = histogram(values)
  let statistic = 0
  for (let v = lo; v <= hi; v++) statistic += ((h.get(v) ?? 0) - expected) ** 2 / expected
  const df = k - 1
  const z = 4.753 // standard normal quantile for 1 - 1e-6
  const critical = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3
  return { statistic, critical }
}

describe('jittered TTLs', () => {
  it('are base ± fraction in whole seconds', () => {
    expect(jitterRange({ ttlSeconds: 300, jitterFraction: 0.2, minTtlSeconds: 1 })).toEqual({ lo: 240, hi: 360 })
    expect(jitterRange({ ttlSeconds: 100, jitterFraction: 0.25, minTtlSeconds: 1 })).toEqual({ lo: 75, hi: 125 })
    // Fractions that do not land on whole seconds: the range stays inside base ± fraction.
    expect(jitterRange({ ttlSeconds: 10, jitterFraction: 0.33, minTtlSeconds: 1 })).toEqual({ lo: 7, hi: 13 })
    expect(jitterRange({ ttlSeconds: 60, jitterFraction: 0, minTtlSeconds: 1 })).toEqual({ lo: 60, hi: 60 })
  })

  it('never go below the floor, and a floor above the whole range pins the TTL to it', () => {
    expect(jitterRange({ ttlSeconds: 10, jitterFraction: 0.9, minTtlSeconds: 5 })).toEqual({ lo: 5, hi: 19 })
    expect(jitterRange({ ttlSeconds: 10, jitterFraction: 0.5, minTtlSeconds: 60 })).toEqual({ lo: 60, hi: 60 })
  })

  it('the jitter mode draws over the whole range, uniformly', () => {
    const params = { ...defaults, ttlSeconds: 100, jitterFraction: 0.2, minTtlSeconds: 1 }
    const mode = jitter.create(ctx, params) as { ttlSeconds(): number }
    const { lo, hi } = jitterRange(params)
    const values = draws(() => mode.ttlSeconds(), 41 * 500)
    expect(Math.min(...values)).toBe(lo)
    expect(Math.max(...values)).toBe(hi)
    expect(values.every(Number.isInteger)).toBe(true)
    // Every whole second of the range is drawn, and the counts are those of a uniform distribution.
    expect(histogram(values).size).toBe(hi - lo + 1)
    const { statistic, critical } = chiSquareUniform(values, lo, hi)
    expect(statistic).toBeLessThan(critical)
    const mean = values.reduce((a, b) => a + b, 0) / values.length
    expect(Math.abs(mean - params.ttlSeconds)).toBeLessThan((hi - lo) / 20)
  })

  it('a floor cutting the range leaves it uniform over what is left (no spike at the floor)', () => {
    const params = { ...defaults, ttlSeconds: 10, jitterFraction: 0.9, minTtlSeconds: 5 }
    const mode = jitter.create(ctx, params) as { ttlSeconds(): number }
    const values = draws(() => mode.ttlSeconds(), 15 * 1000)
    expect(Math.min(...values)).toBe(5)
    expect(Math.max(...values)).toBe(19)
    const { statistic, critical } = chiSquareUniform(values, 5, 19)
    expect(statistic).toBeLessThan(critical)
  })

  it('drawTtl maps the random source onto the range edge to edge', () => {
    const range = { lo: 240, hi: 360 }
    expect(drawTtl(range, () => 0)).toBe(240)
    expect(drawTtl(range, () => 0.999999999)).toBe(360)
    expect(drawTtl(range, () => 0.5)).toBe(300)
  })

  it('fixed-ttl gives every fill the base TTL', () => {
    const mode = fixedTtl.create(ctx, { ...defaults, ttlSeconds: 42 }) as { ttlSeconds(): number }
    expect(new Set(draws(() => mode.ttlSeconds(), 1000))).toEqual(new Set([42]))
  })
})
