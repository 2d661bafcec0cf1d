import type { FastifyBaseLogger } from 'fastify'
import {
  BulkheadPolicy,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  bulkhead,
  circuitBreaker,
  handleAll,
  isBrokenCircuitError,
  type IDisposable,
} from 'cockatiel'
import { LRUCache } from 'lru-cache'
import { DatabaseShed, DatabaseTimeout, DatabaseUnavailable } from '../../errors.js'
import type { Metrics } from '../../metrics.js'
import type { FamilyParams } from '../families.js'
import { CACHE_BYPASSED, type CacheGuard, type DegradedRead } from '../types.js'

type Params = FamilyParams['avalanche']

const STATE_NAMES: Record<CircuitState, string> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'isolated',
}

/**
 * The avalanche protection's instruments (get-or-create: every avalanche mode calls this, so the
 * series exist, at zero, before protection is first switched on and dashboards have data).
 */
export function avalancheMetrics(metrics: Metrics) {
  const m = {
    breakerState: metrics.gauge('cachelab_cache_breaker_state', 'Circuit breaker on Redis (avalanche protection): 0 closed, 1 open, 2 half-open', []),
    breakerTransitions: metrics.counter('cachelab_cache_breaker_transitions_total', 'Circuit breaker state changes, by the state entered', ['to']),
    bulkheadRejections: metrics.counter('cachelab_db_bulkhead_rejections_total', 'Read-path MySQL loads shed by the bulkhead (answered 503, or degraded), by reason', ['reason']),
    bulkheadWaiting: metrics.gauge('cachelab_db_bulkhead_waiting', 'Read-path MySQL loads waiting for a bulkhead slot', []),
    degradedAnswers: metrics.counter('cachelab_degraded_answers_total', 'Reads answered with the last-known copy instead of a 503, by cause', ['cause']),
  }
  for (const to of ['closed', 'open', 'half_open']) m.breakerTransitions.inc({ to }, 0)
  for (const reason of ['queue_full', 'wait_timeout']) m.bulkheadRejections.inc({ reason }, 0)
  for (const cause of ['shed', 'db_error']) m.degradedAnswers.inc({ cause }, 0)
  return m
}
export type AvalancheMetrics = ReturnType<typeof avalancheMetrics>

/**
 * Circuit breaker on the read path's Redis calls (cockatiel). Closed: calls go through and
 * `breakerThreshold` consecutive failures (errors or timeouts) open it. Open: calls are not made
 * (CACHE_BYPASSED at once: no command, no timeout). After `breakerHalfOpenMs` the next call is a
 * trial: success closes it, failure opens it again.
 */
export class CacheBreaker implements CacheGuard {
  private readonly policy: CircuitBreakerPolicy
  private readonly subscription: IDisposable

  constructor(
    params: Pick<Params, 'breakerThreshold' | 'breakerHalfOpenMs'>,
    private readonly m: AvalancheMetrics,
    log: FastifyBaseLogger,
  ) {
    this.policy = circuitBreaker(handleAll, { halfOpenAfter: params.breakerHalfOpenMs, breaker: new ConsecutiveBreaker(params.breakerThreshold) })
    m.breakerState.set(CircuitState.Closed)
    this.subscription = this.policy.onStateChange((state) => {
      m.breakerState.set(state)
      m.breakerTransitions.inc({ to: STATE_NAMES[state] })
      if (state === CircuitState.Open) log.warn({ retryInMs: params.breakerHalfOpenMs }, 'cache breaker open: reads skip Redis and go to the protected MySQL path')
      else log.info({ state: STATE_NAMES[state] }, 'cache breaker state changed')
    })
  }

  get state(): string {
    return STATE_NAMES[this.policy.state]
  }

  async run<T>(call: () => Promise<T>): Promise<T | typeof CACHE_BYPASSED> {
    // During a half-open trial cockatiel makes other calls wait for its outcome (up to a command
    // timeout); they skip the cache instead, so only the trial pays for a dead Redis.
    if (this.policy.state === CircuitState.HalfOpen) return CACHE_BYPASSED
    try {
      return await this.policy.execute(call)
    } catch (err) {
      if (isBrokenCircuitError(err)) return CACHE_BYPASSED
      throw err
    }
  }

  dispose(): void {
    this.subscription.dispose()
    // No breaker any more: the cache is used (as when closed).
    this.m.breakerState.set(CircuitState.Closed)
  }
}

/**
 * Bulkhead on the read path's MySQL loads (cockatiel): `dbMaxConcurrent` at once, `dbMaxQueue`
 * waiting, each waiting at most `dbWaitTimeoutMs`. Beyond that a load is shed at once with a coded
 * 503 (DatabaseShed, Retry-After) — never queued without bound, never left hanging.
 */
export class DbBulkhead {
  private readonly policy: BulkheadPolicy

  constructor(
    private readonly params: Pick<Params, 'dbMaxConcurrent' | 'dbMaxQueue' | 'dbWaitTimeoutMs'>,
    private readonly m: AvalancheMetrics,
  ) {
    this.policy = bulkhead(params.dbMaxConcurrent, params.dbMaxQueue)
  }

  run<T>(load: () => Promise<T>): Promise<T> {
    const policy = this.policy
    if (policy.executionSlots > 0) return policy.execute(() => load())
    if (policy.queueSlots <= 0) {
      const { dbMaxConcurrent, dbMaxQueue } = this.params
      return Promise.reject(this.shed('queue_full', `${dbMaxConcurrent} MySQL reads in flight and ${dbMaxQueue} waiting (avalanche.dbMaxConcurrent, avalanche.dbMaxQueue)`))
    }
    return this.waitForSlot(load)
  }

  // Cockatiel's queue has no wait limit of its own: the load is queued with an abort signal and
  // shed when the timer wins. An aborted entry is dropped, never run, when its turn comes (it keeps
  // its queue place until then, so a queue full of timed-out entries sheds new ones meanwhile).
  private waitForSlot<T>(load: () => Promise<T>): Promise<T> {
    const { m, params } = this
    return new Promise<T>((resolve, reject) => {
      const abort = new AbortController()
      let waiting = true
      const stopWaiting = (): boolean => {
        if (!waiting) return false
        waiting = false
        clearTimeout(timer)
        m.bulkheadWaiting.dec()
        return true
      }
      m.bulkheadWaiting.inc()
      const timer = setTimeout(() => {
        if (!stopWaiting()) return
        abort.abort()
        reject(this.shed('wait_timeout', `no MySQL slot within ${params.dbWaitTimeoutMs} ms (avalanche.dbWaitTimeoutMs)`))
      }, params.dbWaitTimeoutMs)
      this.policy
        .execute(() => {
          stopWaiting()
          return load()
        }, abort.signal)
        .then(resolve, (err: unknown) => {
          stopWaiting()
          reject(err)
        })
    })
  }

  private shed(reason: 'queue_full' | 'wait_timeout', message: string): Error {
    this.m.bulkheadRejections.inc({ reason })
    return new DatabaseShed(message)
  }
}

/**
 * Degradation (降级): the last copy of each order this replica served, in a bounded LRU. A read
 * whose MySQL load was shed or failed gets that copy, marked degraded, instead of a 503. The copy
 * may be older than MySQL's row (its `version` says how old); an order never served gets the 503.
 */
export class LastKnownAnswers {
  private readonly copies: LRUCache<string, string>

  constructor(
    maxEntries: number,
    private readonly m: AvalancheMetrics,
  ) {
    this.copies = new LRUCache({ max: maxEntries })
  }

  remember(id: string, json: string): void {
    this.copies.set(id, json)
  }

  degrade(id: string, err: unknown): DegradedRead {
    const cause = err instanceof DatabaseShed ? 'shed' : err instanceof DatabaseUnavailable || err instanceof DatabaseTimeout ? 'db_error' : undefined
    const json = cause ? this.copies.get(id) : undefined
    if (cause === undefined || json === undefined) throw err
    this.m.degradedAnswers.inc({ cause })
    return { json, degraded: 'last-known' }
  }
}
