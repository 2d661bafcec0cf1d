import type { Counter, Histogram } from 'prom-client'
import type { Metrics } from '../../metrics.js'
import type { LoadAndFill } from '../types.js'

/** Why the breakdown path went to MySQL. */
const REBUILD_TRIGGERS = ['miss', 'logical_expiry', 'early_refresh', 'lock_timeout', 'lock_error'] as const
export type RebuildTrigger = (typeof REBUILD_TRIGGERS)[number]
/** What a rebuild did: loaded from MySQL, found the cache already fresh after taking the lock, or failed. */
const REBUILD_RESULTS = ['loaded', 'already_fresh', 'error'] as const
/** How a wait for another loader ended. */
export type LockWaitOutcome = 'filled' | 'acquired' | 'timeout' | 'error'

const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/**
 * The breakdown family's instruments (get-or-create: every mode instance attaches to the same
 * series), named for what happened. Rebuilds are the database loads the breakdown path made, so
 * `rebuilds{result="loaded"}` per expiry is the family's effect figure.
 */
export class BreakdownMetrics {
  readonly rebuilds: Counter<'trigger' | 'result'>
  readonly coalesced: Counter
  readonly lockAttempts: Counter<'result'>
  readonly lockReleases: Counter<'result'>
  readonly lockWait: Histogram<'outcome'>
  readonly lockTimeouts: Counter<'fallback'>

  constructor(m: Metrics) {
    this.rebuilds = m.counter('cachelab_cache_rebuilds_total', 'Cache rebuilds (MySQL load + fill) by the breakdown path, by trigger and result', ['trigger', 'result'])
    this.coalesced = m.counter('cachelab_cache_loads_coalesced_total', 'Misses that joined a load of the same key already in flight in this process (single-flight)', [])
    this.lockAttempts = m.counter('cachelab_lock_attempts_total', 'Rebuild lock acquisition attempts (SET NX PX), by result', ['result'])
    this.lockReleases = m.counter('cachelab_lock_releases_total', 'Rebuild lock releases (compare-and-delete), by result; not_owner = the lock had expired', ['result'])
    this.lockWait = m.histogram('cachelab_lock_wait_seconds', 'Time a request waited for another loader of the same key, by how the wait ended', ['outcome'], WAIT_BUCKETS)
    this.lockTimeouts = m.counter('cachelab_lock_wait_timeouts_total', 'Waits for another loader that reached lockWaitMs, by the fallback taken', ['fallback'])
    // Series exist (at 0) from start-up, so dashboards and rate() see them before the first event.
    for (const trigger of REBUILD_TRIGGERS) for (const result of REBUILD_RESULTS) this.rebuilds.labels(trigger, result)
    for (const result of ['acquired', 'busy', 'error'] as const) this.lockAttempts.labels(result)
    for (const result of ['released', 'not_owner', 'error'] as const) this.lockReleases.labels(result)
    for (const fallback of ['db', 'fail'] as const) this.lockTimeouts.labels(fallback)
  }

  /** Runs one rebuild and counts it by trigger and result. */
  async rebuild(trigger: RebuildTrigger, loadAndFill: LoadAndFill): Promise<string | null> {
    try {
      const json = await loadAndFill()
      this.rebuilds.inc({ trigger, result: 'loaded' })
      return json
    } catch (err) {
      this.rebuilds.inc({ trigger, result: 'error' })
      throw err
    }
  }
}
