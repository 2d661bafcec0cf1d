import { type Section, q, stateTimeline, sumRate, timeseries } from '../grafana.js'

// Avalanche (缓存雪崩): many keys expire together, or Redis goes away. k6/avalanche.js warms keys
// with one TTL (or a jittered one) and expires them at once, or pauses Redis; watch what reaches
// MySQL and what protected mode sheds. Metrics: README "Avalanche".
export const avalanche: Section = {
  title: 'Avalanche: MySQL load at mass expiry, protection',
  collapsed: true,
  panels: [
    timeseries(
      'MySQL queries in flight: now and peak',
      'All replicas together. The peak is the highest count over the last 1–2 s (each replica keeps it), so a burst between two scrapes still shows. A mass expiry with fixed-ttl sends it to the pool size (MYSQL_POOL_SIZE); jitter spreads the expiries; protected caps read loads at dbMaxConcurrent per replica.',
      [q('sum(cachelab_db_queries_in_flight)', 'in flight'), q('sum(cachelab_db_queries_in_flight_peak)', 'peak (1–2 s)')],
      { unit: 'short', min: 0, width: 12 },
    ),
    timeseries(
      'Bulkhead: reads shed/s by reason, waiting',
      'protected mode: read-path MySQL loads refused by the bulkhead (queue_full: dbMaxQueue waiting already; wait_timeout: no slot within dbWaitTimeoutMs), answered 503 or degraded; and loads waiting for a slot now.',
      [q(sumRate('cachelab_db_bulkhead_rejections_total', ['reason']), 'shed {{reason}}'), q('sum(cachelab_db_bulkhead_waiting)', 'waiting')],
      { unit: 'short', min: 0, width: 12 },
    ),
    stateTimeline(
      'Redis circuit breaker by replica',
      'protected mode: closed (Redis used), open (reads skip Redis without waiting for REDIS_COMMAND_TIMEOUT_MS and go to MySQL through the bulkhead), half-open (one trial read). Closed whenever protection is off.',
      [q('max by (instance) (cachelab_cache_breaker_state)', '{{instance}}')],
      [
        { value: 0, text: 'closed', color: 'green' },
        { value: 1, text: 'OPEN', color: 'red' },
        { value: 2, text: 'half-open', color: 'orange' },
      ],
      { width: 12 },
    ),
    timeseries(
      'Degraded answers/s and reads skipping Redis/s',
      'Degraded: reads answered with the replica\'s last-known copy (header x-cachelab-degraded) instead of a 503, because their MySQL load was shed or failed (degradedAnswer last-known). breaker_open: reads that skipped Redis while the breaker was open.',
      [q(sumRate('cachelab_degraded_answers_total', ['cause']), 'degraded, {{cause}}'), q(sumRate('cachelab_cache_lookups_total{outcome="breaker_open"}'), 'breaker open')],
      { unit: 'ops', min: 0, width: 12 },
    ),
  ],
}
