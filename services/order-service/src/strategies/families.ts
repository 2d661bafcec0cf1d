import { Type, type Static, type TObject } from 'typebox'

// The families and their parameters. Parameters belong to the family, not the mode: switching
// mode keeps them, and the catalogue says which mode reads which parameter.
export const FAMILIES = ['penetration', 'breakdown', 'avalanche', 'consistency', 'writes'] as const
export type Family = (typeof FAMILIES)[number]

export const PenetrationParams = Type.Object(
  {
    nullTtlSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'TTL of the "not found" sentinel' }),
    bloomCapacity: Type.Integer({ minimum: 1000, maximum: 100_000_000, default: 1_000_000, description: 'orders the Bloom filter is sized for; exceeded capacity triggers a rebuild' }),
    bloomFpRate: Type.Number({ minimum: 0.0001, maximum: 0.5, default: 0.01, description: 'target false-positive rate of the Bloom filter' }),
  },
  { additionalProperties: false },
)

export const BreakdownParams = Type.Object(
  {
    lockTtlMs: Type.Integer({ minimum: 50, maximum: 60_000, default: 3000, description: 'TTL of the rebuild lock: a dead holder delays others at most this long' }),
    lockWaitMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 2000, description: 'how long a waiter waits for the holder before the fallback' }),
    lockBackoffMs: Type.Integer({ minimum: 1, maximum: 5000, default: 20, description: 'first backoff between cache re-reads while waiting (doubles, capped)' }),
    lockFallback: Type.Union([Type.Literal('db'), Type.Literal('fail')], { default: 'db', description: 'on wait timeout: load from the database anyway, or answer 503' }),
    logicalTtlSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 30, description: 'logical expiry carried inside the cached value' }),
    earlyRefreshBeta: Type.Number({ minimum: 0.1, maximum: 10, default: 1, description: 'XFetch beta: larger refreshes earlier' }),
  },
  { additionalProperties: false },
)

export const AvalancheParams = Type.Object(
  {
    ttlSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 300, description: 'base TTL of cached orders' }),
    jitterFraction: Type.Number({ minimum: 0, maximum: 0.9, default: 0.2, description: 'TTL = base ± this fraction, uniformly' }),
    minTtlSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 1, description: 'floor of a jittered TTL' }),
    dbMaxConcurrent: Type.Integer({ minimum: 1, maximum: 1000, default: 16, description: 'protected: MySQL reads in flight at most' }),
    dbMaxQueue: Type.Integer({ minimum: 0, maximum: 100_000, default: 64, description: 'protected: reads waiting for a slot; beyond it, 503' }),
    dbWaitTimeoutMs: Type.Integer({ minimum: 1, maximum: 600_000, default: 1000, description: 'protected: longest wait for a slot; past it the read is shed (503)' }),
    breakerThreshold: Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: 'protected: consecutive Redis failures that open the breaker' }),
    breakerHalfOpenMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 1000, description: 'protected: how long the breaker stays open before a trial' }),
    degradedAnswer: Type.Union([Type.Literal('none'), Type.Literal('last-known')], {
      default: 'none',
      description: "protected: a shed or failed MySQL read gets 503 ('none') or this replica's last served copy of the order, marked degraded ('last-known')",
    }),
    lastKnownEntries: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: "protected, last-known: orders each replica remembers for degraded answers (LRU)" }),
  },
  { additionalProperties: false },
)

export const ConsistencyParams = Type.Object(
  {
    doubleDeleteDelayMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 500, description: 'delay of the second delete (longer than a read-and-fill takes)' }),
  },
  { additionalProperties: false },
)

export const WritesParams = Type.Object(
  {
    queueRatePerSec: Type.Integer({ minimum: 1, maximum: 100_000, default: 200, description: 'worker: database writes per second at most' }),
    queueMaxDepth: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000, description: 'accepted orders waiting at most; beyond it POST /orders answers 503' }),
    queueMaxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'deliveries before a message goes to the dead-letter queue' }),
  },
  { additionalProperties: false },
)

export const FAMILY_PARAMS = {
  penetration: PenetrationParams,
  breakdown: BreakdownParams,
  avalanche: AvalancheParams,
  consistency: ConsistencyParams,
  writes: WritesParams,
} as const satisfies Record<Family, TObject>

export type FamilyParams = { [F in Family]: Static<(typeof FAMILY_PARAMS)[F]> }

export const FAMILY_DESCRIPTIONS: Record<Family, string> = {
  penetration: 'requests for ids that exist neither in the cache nor in MySQL (缓存穿透)',
  breakdown: 'a hot key expires and concurrent misses all query MySQL (缓存击穿)',
  avalanche: 'many keys expire together, or the cache goes away (缓存雪崩)',
  consistency: 'what a write does to the cache (双写一致性)',
  writes: 'how order creation reaches MySQL (削峰)',
}
