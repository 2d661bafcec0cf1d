import { describe, expect, it } from 'vitest'
import { configuredTimeoutMs, hungRequests, maxInFlight, peakRate, recoverySeconds, redisBackAt } from '../../scenarios/effects/avalanche.js'
import type { PhaseContext, RequestRecord } from '../../scenarios/runner/types.js'

// The avalanche scenario's figures computed from the sampled series and the load generator's
// records: the peak DB rate over one second, the recovery after Redis returns, hung reads.

const read = (latencyMs: number, status = 200): RequestRecord => ({ kind: 'read', tag: 'read', id: '1', status, start: 0, end: latencyMs, latencyMs, version: 1, replica: 0 })

describe('avalanche scenario effects', () => {
  it('peak rate: the busiest run of samples spanning a second, counted whole across sample boundaries', () => {
    // 250 ms samples: a burst of 100 queries split over two samples (200/s each for 0.25 s).
    const t = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    const rates = [0, 0, 0, 200, 200, 0, 0, 0]
    expect(peakRate(t, rates, 1)).toBe(100)
    // One busy sample alone is not a one-second peak.
    expect(peakRate(t, [0, 0, 0, 400, 0, 0, 0, 0], 1)).toBe(100)
    // Samples of uneven length (a late scrape) weigh by their length.
    expect(peakRate([0.5, 1.5, 2], [10, 50, 0], 1)).toBeCloseTo(50)
    expect(peakRate([0.25, 0.5], [40, 80], 1)).toBe(60)
    expect(peakRate([], [], 1)).toBeNull()
  })

  it('recovery: from Redis back to the end of the first sample entirely after it with a hit ratio above 90%', () => {
    const t = [1, 1.25, 1.5, 1.75, 2, 2.25]
    const hit = [1, 0, 0, 0.95, 0.5, 0.99]
    // The sample (1.5, 1.75] starts after 1.4 and is above 90%.
    expect(recoverySeconds(t, hit, 1.4)).toBe(0.35)
    // The sample ending at 1.75 started before 1.6: not entirely after Redis came back.
    expect(recoverySeconds(t, hit, 1.6)).toBe(0.65)
    expect(recoverySeconds(t, [1, 0, 0, 0, null, 0.8], 1.1)).toBeNull()
  })

  it('Redis back: the last SIGCONT or restart of process redis that ran', () => {
    const events: PhaseContext['events'] = [
      { at: 0, what: 'fault db-latency on', ok: true },
      { at: 1, what: 'SIGSTOP redis', ok: true },
      { at: 2.1, what: 'SIGCONT redis', ok: true },
      { at: 3, what: 'restart redis', ok: false, detail: 'failed' },
    ]
    expect(redisBackAt(events)).toBe(2.1)
    expect(redisBackAt(events.slice(0, 2))).toBeNull()
  })

  it('max in flight: the gauge at every sample, the 1-2 s peak gauge only once its window is inside the phase', () => {
    const series = { t: [0.25, 1, 2, 3], dbInFlight: [0, 4, 9, 0], extra: { dbInFlightPeak: [60, 60, 10, 10] } }
    expect(maxInFlight(series)).toBe(10)
    expect(maxInFlight({ t: [0.5], dbInFlight: [3], extra: {} })).toBe(3)
  })

  it('hung reads: over the configured timeout plus a second, or never answered', () => {
    const def = (env?: Record<string, string>) => ({ deployment: env ? { env } : {} }) as unknown as PhaseContext['scenario']
    expect(configuredTimeoutMs(def({ MYSQL_QUERY_TIMEOUT_MS: '2000' }))).toBe(2000)
    expect(configuredTimeoutMs(def())).toBe(5000)
    expect(hungRequests([read(10), read(2999, 503), read(3001), read(10_000, 0), read(5, 0)], 2000)).toBe(3)
  })
})
