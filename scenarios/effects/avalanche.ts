import { round } from '../runner/figures.js'
import { defineScenario, type PhaseContext, type RequestRecord } from '../runner/types.js'
import { percentile } from './breakdown.js'

// Avalanche: how spiky the database load gets when many keys expire together (fixed-ttl vs
// jitter), and what a hung Redis does to MySQL and to the readers (jitter:outage vs
// protected:outage). Every figure is computed in every phase from what the service reported
// (/metrics, sampled every 250 ms) and what the load generator saw; the outage figures are about
// the outage, so recoverySeconds is null in a phase without one.

/** The service's default MYSQL_QUERY_TIMEOUT_MS (services/order-service config). */
const DEFAULT_MYSQL_TIMEOUT_MS = 5000
const PEAK_WINDOW_SECONDS = 1
const RECOVERED_HIT_RATIO = 0.9
/** cachelab_db_queries_in_flight_peak reports the highest of the last 1-2 s. */
const PEAK_GAUGE_WINDOW_SECONDS = 2

/** The configured timeout a read is held to: the deployment's bound on a MySQL call, pool wait included. */
export function configuredTimeoutMs(scenario: PhaseContext['scenario']): number {
  const v = Number(scenario.deployment?.env?.MYSQL_QUERY_TIMEOUT_MS)
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_MYSQL_TIMEOUT_MS
}

/**
 * The highest rate over any window of `windowSeconds` of a sampled rate series: sample i covers
 * (t[i-1], t[i]] (the first one (0, t[0]]) at rates[i] per second. Windows are runs of consecutive
 * samples spanning at least the window (shorter series: the whole series), so a burst that
 * straddles two samples is counted whole, and one busy sample does not make a peak by itself.
 */
export function peakRate(t: number[], rates: number[], windowSeconds: number): number | null {
  if (t.length === 0) return null
  const start = (i: number) => (i === 0 ? 0 : t[i - 1]!)
  let best: number | null = null
  for (let i = 0; i < t.length; i++) {
    let count = 0
    let j = i
    for (; j < t.length; j++) {
      count += rates[j]! * (t[j]! - start(j))
      if (t[j]! - start(i) >= windowSeconds - 1e-9) break
    }
    if (j === t.length) {
      // Not a full window left; only a series shorter than the window is measured this way.
      if (i > 0) break
      j = t.length - 1
    }
    const span = t[j]! - start(i)
    if (span > 0) best = Math.max(best ?? 0, count / span)
  }
  return best
}

/**
 * Seconds from Redis back (`backAt`, seconds since the measured start) to the end of the first
 * sample that lies entirely after it with a hit ratio above `threshold`; null when none does.
 */
export function recoverySeconds(t: number[], hitRatio: (number | null)[], backAt: number, threshold = RECOVERED_HIT_RATIO): number | null {
  for (let i = 1; i < t.length; i++) {
    if (t[i - 1]! < backAt) continue
    const h = hitRatio[i]
    if (h !== null && h !== undefined && h > threshold) return round(t[i]! - backAt, 2)
  }
  return null
}

/** When the run's own Redis came back: the last SIGCONT or restart of process "redis" that ran. */
export function redisBackAt(events: PhaseContext['events']): number | null {
  const back = events.filter((e) => e.ok && (e.what === 'SIGCONT redis' || e.what === 'restart redis'))
  return back.length ? back[back.length - 1]!.at : null
}

/**
 * Most MySQL queries in flight at once: the in-flight gauge at every sample, and the peak gauge
 * (the highest of the last 1-2 s) from the samples whose window lies inside the measured part;
 * the earlier ones may report the end of the previous phase.
 */
export function maxInFlight(series: Pick<PhaseContext['series'], 't' | 'dbInFlight' | 'extra'>): number | null {
  const values = [...series.dbInFlight]
  const peaks = series.extra.dbInFlightPeak ?? []
  series.t.forEach((t, i) => {
    const v = peaks[i]
    if (t >= PEAK_GAUGE_WINDOW_SECONDS && v !== null && v !== undefined) values.push(v)
  })
  return values.length ? Math.max(...values) : null
}

const failed = (r: RequestRecord) => r.status === 0 || r.status >= 500

/** Reads over the configured timeout plus one second, or never answered: must not happen. */
export function hungRequests(records: RequestRecord[], timeoutMs: number): number {
  return records.filter((r) => r.status === 0 || r.latencyMs > timeoutMs + 1000).length
}

export default defineScenario({
  name: 'avalanche',

  effects({ scenario, records, metrics, series, events, figures }) {
    const peak = peakRate(series.t, series.dbQueriesPerSec, PEAK_WINDOW_SECONDS)
    const mean = figures.durationSeconds > 0 ? figures.dbQueries / figures.durationSeconds : null
    const inFlight = maxInFlight(series)
    const admitted = records
      .filter((r) => !failed(r))
      .map((r) => r.latencyMs)
      .sort((a, b) => a - b)
    const backAt = redisBackAt(events)
    const p99 = figures.latencyMs.p99
    const admittedP99 = percentile(admitted, 99)
    return {
      peakDbQps: peak === null ? null : round(peak, 1),
      meanDbQps: mean === null ? null : round(mean, 1),
      peakToMean: peak !== null && mean ? round(peak / mean, 2) : null,
      p99Ms: p99 === null ? null : round(p99, 1),
      maxDbInflight: inFlight,
      shedRequests: metrics.delta('cachelab_db_bulkhead_rejections_total'),
      errorRate: records.length ? round(records.filter(failed).length / records.length, 4) : null,
      admittedP99Ms: admittedP99 === null ? null : round(admittedP99, 1),
      hungRequests: hungRequests(records, configuredTimeoutMs(scenario)),
      recoverySeconds: backAt === null ? null : recoverySeconds(series.t, series.hitRatio, backAt),
    }
  },
})
