import { describe, expect, it } from 'vitest'
import { decodeEntry, encodeLogical } from '../../services/order-service/src/cache/codec.js'
import { SingleFlight } from '../../services/order-service/src/cache/single-flight.js'
import { shouldRefreshEarly } from '../../services/order-service/src/strategies/breakdown/early-refresh.js'

describe('XFetch decision (early-refresh)', () => {
  it('refreshes exactly when now - delta * beta * ln(r) >= expiry', () => {
    // 1000 ms before expiry, delta 100 ms, beta 1: refresh iff -100 ln r >= 1000, i.e. r <= e^-10.
    expect(shouldRefreshEarly(0, 1000, 100, 1, Math.exp(-10) * 0.999)).toBe(true)
    expect(shouldRefreshEarly(0, 1000, 100, 1, Math.exp(-10) * 1.001)).toBe(false)
    // beta scales delta: with beta 2 the threshold is r <= e^-5.
    expect(shouldRefreshEarly(0, 1000, 100, 2, Math.exp(-5) * 0.999)).toBe(true)
    // At or past expiry every draw refreshes (ln r <= 0); with no measured delta, never before it.
    expect(shouldRefreshEarly(1000, 1000, 100, 1, 1)).toBe(true)
    expect(shouldRefreshEarly(999, 1000, 0, 10, 1e-12)).toBe(false)
  })

  it('refreshes with probability exp(-gap / (delta * beta)) over uniform draws', () => {
    const draws = 10_000
    for (const [gap, delta, beta] of [[100, 100, 1], [500, 100, 2], [50, 200, 0.5]] as const) {
      let refreshed = 0
      for (let i = 0; i < draws; i++) if (shouldRefreshEarly(0, gap, delta, beta, (i + 0.5) / draws)) refreshed++
      // A uniform grid of draws: the fraction is the probability to within one grid step.
      expect(Math.abs(refreshed / draws - Math.exp(-gap / (delta * beta)))).toBeLessThanOrEqual(1 / draws)
    }
  })
})

describe('logical envelope with a recompute time', () => {
  it('round-trips expiry and recompute time, and the JSON is served byte for byte', () => {
    const json = '{"id":"3","item":"a|b:c"}'
    expect(decodeEntry(encodeLogical(json, 1700000000123, 87))).toEqual({ kind: 'order', json, logicalExpiresAt: 1700000000123, recomputeMs: 87 })
    expect(decodeEntry(encodeLogical(json, 5))).toEqual({ kind: 'order', json, logicalExpiresAt: 5 })
  })
})

describe('SingleFlight', () => {
  it('shares one call among concurrent callers of a key, and starts anew once it settled', async () => {
    let calls = 0
    let joins = 0
    let release!: (v: string) => void
    const sf = new SingleFlight<string>(() => joins++)
    const fn = () => {
      calls++
      return new Promise<string>((r) => (release = r))
    }
    const all = Promise.all([sf.run('k', fn), sf.run('k', fn), sf.run('k', fn)])
    const other = sf.run('other', async () => 'x')
    release('v')
    expect(await all).toEqual(['v', 'v', 'v'])
    expect(await other).toBe('x')
    expect(calls).toBe(1)
    expect(joins).toBe(2)
    expect(sf.has('k')).toBe(false)
    await sf.run('k', async () => 'again')
    expect(joins).toBe(2)
  })

  it('rejects every joined caller when the shared call fails, then forgets it', async () => {
    const sf = new SingleFlight<string>()
    const boom = () => Promise.reject(new Error('db down'))
    const results = await Promise.allSettled([sf.run('k', boom), sf.run('k', boom)])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(await sf.run('k', async () => 'ok')).toBe('ok')
  })
})
