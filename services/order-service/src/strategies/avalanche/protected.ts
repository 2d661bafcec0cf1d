import { defineMode, type AvalancheStrategy } from '../types.js'
import { CacheBreaker, DbBulkhead, LastKnownAnswers, avalancheMetrics } from './protection.js'
import { drawTtl, jitterRange } from './ttl.js'

interface ProtectedAvalanche extends AvalancheStrategy {
  dispose(): void
}

export default defineMode({
  family: 'avalanche',
  name: 'protected',
  description:
    "jitter's TTLs plus protection of MySQL for when the cache fails or misses in bulk (限流 / 熔断 / 降级). A bulkhead bounds the read path's MySQL loads: dbMaxConcurrent at once, dbMaxQueue waiting, each at most dbWaitTimeoutMs; beyond that a read gets a prompt 503 with Retry-After (code CACHELAB_DB_SHED), or with degradedAnswer last-known the last copy this replica served. A circuit breaker on Redis opens after breakerThreshold consecutive failures: reads then skip the cache (no command, no timeout) for the bounded MySQL path and no fills are attempted; after breakerHalfOpenMs one trial read closes it once Redis answers. Bounds are per replica. Jitter and protection are one mode so that jitter vs protected isolates what protection adds; jitterFraction 0 gives fixed TTLs with protection.",
  uses: ['ttlSeconds', 'jitterFraction', 'minTtlSeconds', 'dbMaxConcurrent', 'dbMaxQueue', 'dbWaitTimeoutMs', 'breakerThreshold', 'breakerHalfOpenMs', 'degradedAnswer', 'lastKnownEntries'],
  create: (ctx, params): ProtectedAvalanche => {
    const m = avalancheMetrics(ctx.metrics)
    const range = jitterRange(params)
    const bulkhead = new DbBulkhead(params, m)
    const breaker = new CacheBreaker(params, m, ctx.log)
    const instance: ProtectedAvalanche = {
      ttlSeconds: () => drawTtl(range),
      protect: (load) => bulkhead.run(load),
      cacheGuard: breaker,
      dispose: () => breaker.dispose(),
    }
    if (params.degradedAnswer === 'last-known') {
      const lastKnown = new LastKnownAnswers(params.lastKnownEntries, m)
      instance.remember = (id, json) => lastKnown.remember(id, json)
      instance.degrade = (id, err) => lastKnown.degrade(id, err)
    }
    return instance
  },
  dispose: (instance) => (instance as ProtectedAvalanche).dispose(),
})
