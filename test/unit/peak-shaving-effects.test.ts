import { describe, expect, it } from 'vitest'
import { peakRate, percentile } from '../../scenarios/effects/peak-shaving.js'

describe('peak-shaving figures', () => {
  it('p99 by nearest rank', () => {
    expect(percentile([], 99)).toBeNull()
    expect(percentile([5], 99)).toBe(5)
    expect(percentile(Array.from({ length: 100 }, (_, i) => 100 - i), 99)).toBe(99)
    expect(percentile(Array.from({ length: 200 }, (_, i) => i + 1), 99)).toBe(198)
  })

  it('peak rate over windows of consecutive samples, weighted by their actual (stamped) lengths', () => {
    // Samples every 0.5 s; rates over the interval before each sample.
    const t = [0.5, 1, 1.5, 2, 2.5]
    const rates = [10, 30, 30, 10, 0]
    expect(peakRate(t, rates, 0, 500, 1000)).toBe(30)
    expect(peakRate(t, rates, 0, 500, 2000)).toBe(20)
    // A late sample stretches its interval: the count is rate × its real length, not × 0.5 s.
    expect(peakRate([0.5, 1.2, 1.5], [10, 40, 10], 0, 500, 1000)).toBe(round1((40 * 0.7 + 10 * 0.3) / 1)) // (0.5..1.5]
    expect(peakRate([0.5], [10], 0, 500, 1000)).toBeNull()
    expect(peakRate([0.5, 1], [null, 20], 0, 500, 1000)).toBe(10)
  })
})

function round1(v: number): number {
  return Math.round(v * 10) / 10
}
