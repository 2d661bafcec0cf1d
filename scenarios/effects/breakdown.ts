import { setTimeout as sleep } from 'node:timers/promises'
import { momentSeconds } from '../runner/definition.js'
import { LabError } from '../runner/errors.js'
import { round } from '../runner/figures.js'
import { arrivalDurationSeconds } from '../runner/load.js'
import { valueAt } from '../runner/prom.js'
import { defineScenario, type PhaseContext, type RequestRecord } from '../runner/types.js'

// Breakdown: DB loads per expiry of one hot key, and what an expiry does to its readers' latency.
//
// hotKeyDbLoads counts MySQL selects (cachelab_db_queries_total{operation="select"}): what the
// database saw, whichever path sent them. Background reads add none: every order is warmed before
// the phase with the 300 s TTL (longer than any run) and only the hot key is expired, so they
// always hit. cachelab_cache_rebuilds_total{result="loaded"} (one per load of the breakdown path)
// would count background misses just the same, and would miss a read that fell back to MySQL after
// a failed cache read (a load of the hot key all the same, outside the defense). Both are
// compared: any select not explained by a rebuild or such a fallback is reported as a note.

// The expensive query: every MySQL select of the phase is slowed by this much (on both replicas).
const DB_LATENCY = { ms: 200, operations: ['select'] }
const HOT_TAG = 'hot'

/** p-th percentile (nearest rank) of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

const ms = (v: number | null) => (v === null ? null : round(v, 1))

/**
 * Length of an expiry window: half the shortest gap between two of the phase's expire-key moments
 * as defined (the runner may fire them late), or half the phase when there is one.
 */
export function expiryWindowMs(phase: PhaseContext['phase']): number {
  const duration = arrivalDurationSeconds(phase.workload.arrival, phase.workload.durationSeconds)
  const moments = (phase.events ?? [])
    .filter((e) => 'action' in e && e.action === 'expire-key')
    .map((e) => momentSeconds(e.at, duration) * 1000)
    .sort((a, b) => a - b)
  const gaps = moments.slice(1).map((t, i) => t - moments[i]!)
  return (gaps.length > 0 ? Math.min(...gaps) : duration * 1000) / 2
}

/**
 * When the hot key actually expired (ms since the measured start): the instant each expire-key
 * action reports, for the actions that found an entry to expire.
 */
export function expiryMoments(events: PhaseContext['events'], measuredStartedAt: number): number[] {
  const out: number[] = []
  for (const e of events) {
    if (!e.ok || !e.what.startsWith('action expire-key') || !e.detail) continue
    const r = JSON.parse(e.detail) as { deleted: number; logicallyExpired: number; expiredAt: number }
    if (r.deleted + r.logicallyExpired > 0) out.push(r.expiredAt - measuredStartedAt)
  }
  return out.sort((a, b) => a - b)
}

/**
 * The hot-key reads outside every expiry window. A read an expiry slows down ends after it (it
 * waited for a reload), so a read is inside when it ended within `windowMs` after an expiry.
 * Classifying by end time, not by "entirely between two expiries", keeps slow reads from being
 * left out of the between-expiry set just for being long.
 */
export function betweenExpiries(reads: RequestRecord[], expiries: number[], windowMs: number): RequestRecord[] {
  return reads.filter((r) => expiries.every((t) => r.end < t || r.end >= t + windowMs))
}

export default defineScenario({
  name: 'breakdown',

  // After the phase's warm-up request and before any load: slow every select on every replica, and
  // wait until each one has it (a fault is shared state, applied by pub/sub).
  async beforePhase({ admin, target }) {
    await admin.fault('db-latency', DB_LATENCY)
    const deadline = Date.now() + 5000
    for (;;) {
      const active = valueAt(await target.scrape(), 'cachelab_chaos_fault_active{fault="db-latency"}')
      if (active >= target.baseUrls.length) break
      if (Date.now() > deadline) throw new LabError(`db-latency active on ${active} of ${target.baseUrls.length} replicas after 5 s`)
      await sleep(50)
    }
  },

  effects({ phase, records, metrics, events, measuredStartedAt, note }) {
    const expiries = metrics.delta('cachelab_chaos_expired_entries_total')
    const hotKeyDbLoads = metrics.delta('cachelab_db_queries_total{operation="select"}')

    // Every select should be a load of the hot key by the breakdown path, or a read that fell back to
    // MySQL after a failed cache read (outside the defense). Say so when that is not the case.
    const fallbacks = metrics.delta('cachelab_cache_lookups_total{outcome="error"}') + metrics.delta('cachelab_cache_lookups_total{outcome="breaker_open"}')
    const rebuildSelects = metrics.delta('cachelab_cache_rebuilds_total{result="loaded"}') + metrics.delta('cachelab_cache_rebuilds_total{result="error"}')
    if (fallbacks > 0) note(`${fallbacks} reads fell back to MySQL after a failed cache read (outside the breakdown defense); their selects are in hotKeyDbLoads`)
    if (hotKeyDbLoads !== rebuildSelects + fallbacks) note(`${hotKeyDbLoads} selects but ${rebuildSelects} rebuilds and ${fallbacks} fallbacks: something else queried MySQL (a background key missed?)`)

    const moments = expiryMoments(events, measuredStartedAt)
    if (moments.length !== expiries) note(`the expire-key actions report ${moments.length} expiries, the service counted ${expiries}`)
    const hot = records.filter((r) => r.tag === HOT_TAG)
    const sorted = hot.map((r) => r.latencyMs).sort((a, b) => a - b)
    const between = betweenExpiries(hot, moments, expiryWindowMs(phase))
      .map((r) => r.latencyMs)
      .sort((a, b) => a - b)
    const p99 = percentile(sorted, 99)
    const p99Between = percentile(between, 99)
    return {
      expiries,
      hotKeyDbLoads,
      dbLoadsPerExpiry: expiries > 0 ? round(hotKeyDbLoads / expiries, 2) : null,
      lockTimeouts: metrics.delta('cachelab_lock_wait_timeouts_total'),
      p99Ms: ms(p99),
      maxLatencyMs: ms(sorted.length ? sorted[sorted.length - 1]! : null),
      p99BetweenExpiriesMs: ms(p99Between),
      expirySpike: p99 !== null && p99Between ? round(p99 / p99Between, 2) : null,
    }
  },
})
