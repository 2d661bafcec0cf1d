import { type Section, histogramQuantile, q, sumRate, timeseries } from '../grafana.js'

// Breakdown (缓存击穿): a hot key expires under concurrency. k6/breakdown.js expires it while the
// load runs; watch how many loads each expiry costs. Metrics: README "Breakdown".
export const breakdown: Section = {
  title: 'Breakdown: hot-key rebuilds and locks',
  collapsed: true,
  panels: [
    timeseries(
      'Rebuilds/s by trigger',
      'MySQL loads + fills by the breakdown path: miss (a cold or expired key), logical_expiry (a stale value served while one rebuild runs), early_refresh (XFetch, before expiry), lock_timeout / lock_error (loaded without the lock). Mode none: one per concurrent miss; mutex and logical-expiry: one per expiry across replicas.',
      [q(sumRate('cachelab_cache_rebuilds_total', ['trigger', 'result']), '{{trigger}} {{result}}')],
      { unit: 'ops', min: 0, width: 12 },
    ),
    timeseries(
      'Lock attempts/s by result',
      'SET NX PX on the rebuild lock: acquired (this request loads), busy (another loader holds it: wait), error (Redis failed: loaded without it). Only mutex and logical-expiry take the lock.',
      [q(sumRate('cachelab_lock_attempts_total', ['result']), '{{result}}')],
      { unit: 'ops', min: 0, width: 12 },
    ),
    timeseries(
      'Lock waits/s by outcome, and timeouts/s',
      'Requests that waited for another loader: filled (its value appeared), acquired (the lock came free), timeout (lockWaitMs reached: lockFallback db loads anyway, fail answers 503), error. Timeouts mean the loader is slower than lockWaitMs.',
      [q(sumRate('cachelab_lock_wait_seconds_count', ['outcome']), 'wait {{outcome}}'), q(sumRate('cachelab_lock_wait_timeouts_total', ['fallback']), 'timeout, fallback {{fallback}}')],
      { unit: 'ops', min: 0, width: 8 },
    ),
    timeseries(
      'Lock wait p99 by outcome',
      'How long waiters waited: about one MySQL load when the loader fills the key; lockWaitMs for timeouts.',
      [q(histogramQuantile(0.99, 'cachelab_lock_wait_seconds', ['outcome']), 'p99 {{outcome}}')],
      { unit: 's', min: 0, width: 8 },
    ),
    timeseries(
      'Stale served/s and coalesced loads/s',
      'stale: expired values served at once by logical-expiry while one rebuild refreshes them (no latency spike). coalesced: misses that joined a load of the same key already running in the process (single-flight, part of mutex).',
      [q(sumRate('cachelab_cache_lookups_total{outcome="stale"}'), 'stale served'), q(sumRate('cachelab_cache_loads_coalesced_total'), 'coalesced loads')],
      { unit: 'ops', min: 0, width: 8 },
    ),
  ],
}
