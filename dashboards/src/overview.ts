import { type Annotation, type Section, dashboard, histogramQuantile, q, stat, stateTimeline, sumRate, timeseries } from './grafana.js'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import { FAMILIES } from '../../services/order-service/src/strategies/families.js'
import { SCENARIO_SECTIONS } from './scenarios/index.js'

// Scrapes and probes are not the lab's traffic.
const APP_ROUTES = 'route!~"/metrics|/healthz|/readyz"'

export const traffic: Section = {
  title: 'Traffic',
  panels: [
    timeseries(
      'Requests/s by route and status',
      'Every replica, by route pattern and HTTP status (scrapes and health probes left out). 404s on /orders/:id are reads of missing orders (penetration traffic); 503s are refusals while MySQL is down or too slow.',
      [q(sumRate(`http_request_duration_seconds_count{${APP_ROUTES}}`, ['route', 'method', 'status_code']), '{{method}} {{route}} {{status_code}}')],
      { unit: 'reqps', min: 0 },
    ),
    timeseries(
      'HTTP latency p50 / p99 by route',
      'Server-side latency from the service histograms, all replicas together. A breakdown (hot key expiry) shows as a p99 spike on GET /orders/:id; a defense that works flattens it.',
      [
        q(histogramQuantile(0.5, 'http_request_duration_seconds', ['route'], `{${APP_ROUTES}}`), 'p50 {{route}}'),
        q(histogramQuantile(0.99, 'http_request_duration_seconds', ['route'], `{${APP_ROUTES}}`), 'p99 {{route}}'),
      ],
      { unit: 's', min: 0 },
    ),
  ],
}

export const cache: Section = {
  title: 'Cache',
  panels: [
    timeseries(
      'Cache hit ratio',
      'Lookups answered from Redis (hit, cached "not found", stale value served) over all lookups of the read path. Drops to 0 while the cache is flushed, down or every key expired at once (avalanche).',
      [q(`${sumRate('cachelab_cache_lookups_total{outcome=~"hit|null_hit|stale"}')} / ${sumRate('cachelab_cache_lookups_total')}`, 'hit ratio')],
      { unit: 'percentunit', min: 0, max: 1, width: 8 },
    ),
    timeseries(
      'Lookups/s by outcome',
      'hit / miss / null_hit (cached "not found") / stale (expired value served while one rebuild runs) / bloom_reject (answered by the Bloom filter, no Redis or MySQL) / error (Redis failed: read fell back to MySQL) / breaker_open (avalanche protection\'s circuit breaker is open: the read skipped Redis without waiting and went to MySQL).',
      [q(sumRate('cachelab_cache_lookups_total', ['outcome']), '{{outcome}}')],
      { unit: 'ops', stacked: true, width: 8 },
    ),
    timeseries(
      'Cache fills and invalidations/s',
      'Fills: cache writes after a MySQL load, by result. Invalidations: cached entries deleted because the order changed, by reason (the consistency strategy decides when).',
      [q(sumRate('cachelab_cache_fills_total', ['result']), 'fill {{result}}'), q(sumRate('cachelab_cache_invalidations_total', ['reason']), 'invalidate {{reason}}')],
      { unit: 'ops', min: 0, width: 8 },
    ),
  ],
}

export const database: Section = {
  title: 'Database',
  panels: [
    timeseries(
      'MySQL queries/s by operation',
      'What reaches the database. The lab measures defenses by this: penetration without a defense sends one select per attack request; a breakdown sends one select per concurrent miss.',
      [q(sumRate('cachelab_db_queries_total', ['operation']), '{{operation}}')],
      { unit: 'ops', stacked: true, width: 8 },
    ),
    timeseries(
      'MySQL selects per 1000 lookups',
      'Database load per read: near 0 when the cache absorbs the reads, near 1000 when every read goes to MySQL.',
      [q(`1000 * ${sumRate('cachelab_db_queries_total{operation="select"}')} / ${sumRate('cachelab_cache_lookups_total')}`, 'selects per 1000 lookups')],
      { unit: 'short', min: 0, width: 8 },
    ),
    timeseries(
      'MySQL queries in flight',
      'Queries sent and not yet answered, per replica, now and at their peak over the last 1–2 s (a burst between two scrapes still shows in the peak). Rises with injected DB latency and with a stampede of misses; the pool size (MYSQL_POOL_SIZE) caps what runs at once, the rest waits.',
      [q('sum by (instance) (cachelab_db_queries_in_flight)', '{{instance}}'), q('sum by (instance) (cachelab_db_queries_in_flight_peak)', 'peak {{instance}}')],
      { unit: 'short', min: 0, width: 8 },
    ),
    timeseries(
      'MySQL query latency p99 by operation',
      'Pool wait included. Injected latency (chaos db-latency) shows here first.',
      [q(histogramQuantile(0.99, 'cachelab_db_query_duration_seconds', ['operation']), 'p99 {{operation}}')],
      { unit: 's', min: 0 },
    ),
    timeseries(
      'Errors/s: MySQL and Redis',
      'MySQL queries that failed or hit MYSQL_QUERY_TIMEOUT_MS, and Redis commands that failed or hit REDIS_COMMAND_TIMEOUT_MS, by operation. Non-zero only during faults.',
      [q(sumRate('cachelab_db_errors_total', ['operation']), 'mysql {{operation}}'), q(sumRate('cachelab_redis_errors_total', ['operation']), 'redis {{operation}}')],
      { unit: 'ops', min: 0 },
    ),
  ],
}

export const strategiesAndChaos: Section = {
  title: 'Strategies and chaos',
  panels: [
    stateTimeline(
      'Active strategy modes',
      'One row per strategy family and mode; coloured while that mode is active (every replica applies a change within a second). Periods with a non-baseline mode are also marked (blue) on every graph. Compare the panels above before and after a switch.',
      [q('max by (family, mode) (cachelab_strategy_mode)', '{{family}}: {{mode}}')],
      [
        { value: 0, text: 'off', color: 'transparent' },
        { value: 1, text: 'active', color: 'green' },
      ],
      { height: 10 },
    ),
    stateTimeline(
      'Chaos faults',
      'One row per fault of the chaos catalogue; red while it is injected (POST /admin/chaos). The same periods are shaded on every graph of this dashboard.',
      [q('max by (fault) (cachelab_chaos_fault_active)', '{{fault}}')],
      [
        { value: 0, text: 'off', color: 'transparent' },
        { value: 1, text: 'ACTIVE', color: 'red' },
      ],
      { height: 10 },
    ),
  ],
}

export const replicas: Section = {
  title: 'Replicas',
  panels: [
    stat('Replicas up', 'Order-service replicas Prometheus scrapes successfully (docker compose runs 2).', [q('sum(up{job="order-service"})', 'up')], {
      unit: 'short',
      width: 6,
      thresholds: [
        [null, 'red'],
        [1, 'orange'],
        [2, 'green'],
      ],
    }),
    timeseries('Resident memory by replica', 'Process RSS of each replica.', [q('sum by (instance) (process_resident_memory_bytes{job="order-service"})', '{{instance}}')], { unit: 'bytes', min: 0, width: 9 }),
    timeseries('Event loop lag p99 by replica', 'A blocked event loop delays every request on that replica.', [q('max by (instance) (nodejs_eventloop_lag_p99_seconds{job="order-service"})', '{{instance}}')], { unit: 's', min: 0, width: 9 }),
  ],
}

/**
 * Marked on every graph while a family runs a mode other than its baseline (the first mode of its
 * catalogue entry): the periods to compare with the rest.
 */
export const strategyAnnotation: Annotation = {
  name: 'Non-baseline strategy modes',
  expr: `max by (family, mode) (${FAMILIES.map((f) => `cachelab_strategy_mode{family="${f}",mode!="${MODES[f][0]!.name}"}`).join(' or ')}) > 0`,
  title: 'strategy {{family}}: {{mode}}',
  color: 'blue',
  tagKeys: ['family', 'mode'],
}

/** Shaded on every graph while a chaos fault is injected. */
export const chaosAnnotation: Annotation = {
  name: 'Chaos faults',
  expr: 'max by (fault) (cachelab_chaos_fault_active) > 0',
  title: 'chaos: {{fault}}',
  color: 'red',
  tagKeys: ['fault'],
}

export const overview = dashboard({
  uid: 'cachelab-overview',
  title: 'cachelab — overview',
  description: 'The order service, its cache and database, the active strategies and chaos faults, all replicas together.',
  tags: ['cachelab'],
  sections: [traffic, cache, database, strategiesAndChaos, ...SCENARIO_SECTIONS, replicas],
  annotations: [chaosAnnotation, strategyAnnotation],
})
