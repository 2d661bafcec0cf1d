import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { SeriesHistogram } from './series-histogram.js'

/** What a cache lookup found. Low cardinality by design: never label by key or id. */
const LOOKUP_OUTCOMES = ['hit', 'miss', 'null_hit', 'stale', 'bloom_reject', 'error', 'breaker_open'] as const
export type LookupOutcome = (typeof LOOKUP_OUTCOMES)[number]
/** `audit`: the consistency auditor's reads, kept apart so they never count as read-path load. */
export type DbOperation = 'select' | 'insert' | 'update' | 'delete' | 'scan' | 'audit' | 'other'

const DB_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * One Registry per app instance (building the app twice in one process must not collide), the
 * instruments every part of the service shares, and get-or-create helpers so that a strategy mode,
 * created anew on every switch, attaches to the same series instead of registering twice.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly enabled: boolean

  readonly cacheLookups: Counter<'outcome'>
  readonly cacheFills: Counter<'result'>
  readonly cacheInvalidations: Counter<'reason'>
  readonly redisErrors: Counter<'operation'>
  readonly dbQueries: Counter<'operation'>
  readonly dbErrors: Counter<'operation'>
  readonly dbDuration: Histogram<'operation'>
  readonly dbInFlight: Gauge
  readonly dbInFlightPeak: Gauge
  /** Observed on every request: series resolved once per route and status (see series-histogram.ts). */
  readonly httpDuration: SeriesHistogram<'method' | 'route' | 'status_code'>
  readonly strategyMode: Gauge<'family' | 'mode'>
  readonly chaosActive: Gauge<'fault'>

  // Lookups are counted in plain numbers and added to the counter when it is read (a scrape or
  // get()): even a pre-bound child's inc() hashes its label set into a string key, ~0.3 µs a hit.
  private readonly lookupCounts = Object.fromEntries(LOOKUP_OUTCOMES.map((o) => [o, 0])) as Record<LookupOutcome, number>
  // Pre-bound children: the hot path increments without validating label sets.
  private readonly dbQueryChildren = new Map<DbOperation, { inc(): void }>()
  private dbInFlightLevel = 0
  private readonly dbInFlightWindow = new PeakWindow(1000)

  constructor(opts: { enabled: boolean; defaultMetrics?: boolean }) {
    this.enabled = opts.enabled
    const lookupCounts = this.lookupCounts
    this.cacheLookups = this.getOrCreate(
      'cachelab_cache_lookups_total',
      () =>
        new Counter({
          name: 'cachelab_cache_lookups_total',
          help: 'Cache lookups on the read path by outcome',
          labelNames: ['outcome'],
          registers: [this.registry],
          collect(this: Counter<'outcome'>) {
            for (const outcome of LOOKUP_OUTCOMES) {
              const n = lookupCounts[outcome]
              if (n === 0) continue
              lookupCounts[outcome] = 0
              this.inc({ outcome }, n)
            }
          },
        }),
    )
    this.cacheFills = this.counter('cachelab_cache_fills_total', 'Cache writes after a database load, by result', ['result'])
    this.cacheInvalidations = this.counter('cachelab_cache_invalidations_total', 'Cache entries deleted because the order changed, by reason', ['reason'])
    this.redisErrors = this.counter('cachelab_redis_errors_total', 'Redis commands that failed or timed out, by operation', ['operation'])
    this.dbQueries = this.counter('cachelab_db_queries_total', 'Queries sent to MySQL, by operation', ['operation'])
    this.dbErrors = this.counter('cachelab_db_errors_total', 'MySQL queries that failed or timed out, by operation', ['operation'])
    this.dbDuration = this.histogram('cachelab_db_query_duration_seconds', 'MySQL query duration, pool wait included', ['operation'], DB_BUCKETS)
    this.dbInFlight = this.gauge('cachelab_db_queries_in_flight', 'MySQL queries sent and not yet answered', [])
    const window = this.dbInFlightWindow
    const level = () => this.dbInFlightLevel
    this.dbInFlightPeak = this.getOrCreate(
      'cachelab_db_queries_in_flight_peak',
      () =>
        new Gauge({
          name: 'cachelab_db_queries_in_flight_peak',
          help: 'Highest cachelab_db_queries_in_flight over the last 1-2 s: the peaks a scrape of the gauge would miss',
          registers: [this.registry],
          collect(this: Gauge) {
            this.set(window.read(level()))
          },
        }),
    )
    this.httpDuration = new SeriesHistogram('http_request_duration_seconds', 'HTTP request duration by route pattern', ['method', 'route', 'status_code'], HTTP_BUCKETS, this.registry)
    this.strategyMode = this.gauge('cachelab_strategy_mode', 'Active strategy mode per family (1 = active)', ['family', 'mode'])
    this.chaosActive = this.gauge('cachelab_chaos_fault_active', 'Chaos faults currently injected (1 = active)', ['fault'])
    for (const op of ['select', 'insert', 'update', 'delete', 'scan', 'audit', 'other'] as const) {
      this.dbQueryChildren.set(op, this.dbQueries.labels(op))
    }
    if (opts.defaultMetrics !== false && opts.enabled) collectDefaultMetrics({ register: this.registry })
  }

  lookup(outcome: LookupOutcome): void {
    if (this.enabled) this.lookupCounts[outcome]++
  }

  dbQuery(op: DbOperation): void {
    if (this.enabled) this.dbQueryChildren.get(op)!.inc()
  }

  /** A MySQL query was sent (in flight until dbQueryEnded). */
  dbQueryStarted(): void {
    this.dbInFlight.inc()
    this.dbInFlightWindow.observe(++this.dbInFlightLevel)
  }

  dbQueryEnded(): void {
    this.dbInFlight.dec()
    this.dbInFlightLevel--
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return this.getOrCreate(name, () => new Counter({ name, help, labelNames, registers: [this.registry] }))
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return this.getOrCreate(name, () => new Gauge({ name, help, labelNames, registers: [this.registry] }))
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    return this.getOrCreate(name, () => new Histogram({ name, help, labelNames, buckets, registers: [this.registry] }))
  }

  private getOrCreate<M extends Metric>(name: string, make: () => M): M {
    return (this.registry.getSingleMetric(name) as M | undefined) ?? make()
  }
}

/**
 * The highest level seen over the current and the previous window (1-2 windows back): a scraper
 * sampling more often than once per window sees every peak, however short.
 */
class PeakWindow {
  private current = 0
  private previous = 0
  private windowStart = Date.now()

  constructor(private readonly windowMs: number) {}

  /** Called when the level rises (it only peaks then). */
  observe(level: number): void {
    this.rotate(level - 1)
    if (level > this.current) this.current = level
  }

  read(level: number): number {
    this.rotate(level)
    return Math.max(this.previous, this.current, level)
  }

  private rotate(level: number): void {
    const elapsed = Date.now() - this.windowStart
    if (elapsed < this.windowMs) return
    // A whole window without a rise: its peak was the level it started with.
    this.previous = elapsed < 2 * this.windowMs ? this.current : level
    this.current = level
    this.windowStart = Date.now()
  }
}
