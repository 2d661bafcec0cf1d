import type { FastifyBaseLogger } from 'fastify'
import { decodeEntry } from './cache/codec.js'
import type { CacheStore } from './cache/cache-store.js'
import type { ChaosRegistry } from './chaos/registry.js'
import type { NewOrder, OrderRepository } from './db/order-repository.js'
import type { IdGenerator } from './ids.js'
import type { Metrics } from './metrics.js'
import type { CreateOrderBody, Order, UpdateOrderBody } from './schemas/order.js'
import type { StrategyRegistry } from './strategies/registry.js'
import { CACHE_BYPASSED, type CacheWriter, type CreateResult, type DegradedRead, type FamilyStrategies } from './strategies/types.js'

/** A read: the order's JSON (served as is), null for "no such order", or a degraded answer. */
export type ReadResult = string | null | DegradedRead

/**
 * The read and write paths. The strategies decide; this class only sequences them:
 * penetration check → cache → (miss) breakdown → avalanche-protected MySQL load → fill.
 */
export class OrderService {
  constructor(
    private readonly strategies: StrategyRegistry,
    private readonly cache: CacheStore,
    private readonly repo: OrderRepository,
    private readonly chaos: ChaosRegistry,
    private readonly metrics: Metrics,
    private readonly ids: IdGenerator,
    private readonly log: FastifyBaseLogger,
  ) {}

  get(id: string): Promise<ReadResult> {
    const s = this.strategies.active
    const maybe = s.penetration.mightExist(id)
    // A cache hit is the common case: without a filter verdict to await or an onAbsent to call,
    // the read is readThrough's promise itself, one async frame less per request.
    if (maybe === true && s.penetration.onAbsent === undefined) return this.readThrough(id, s)
    return this.getChecked(id, s, maybe)
  }

  private async getChecked(id: string, s: FamilyStrategies, maybe: boolean | Promise<boolean>): Promise<ReadResult> {
    if (maybe === false || (maybe !== true && !(await maybe))) {
      this.metrics.lookup('bloom_reject')
      return null
    }
    const json = await this.readThrough(id, s)
    // Once per request that the penetration check let through (how a Bloom filter measures its false positives).
    if (json === null) s.penetration.onAbsent?.(id)
    return json
  }

  private async readThrough(id: string, s: FamilyStrategies): Promise<ReadResult> {
    const avalanche = s.avalanche
    let raw: string | null | typeof CACHE_BYPASSED
    try {
      raw = avalanche.cacheGuard ? await avalanche.cacheGuard.run(() => this.cache.get(id)) : await this.cache.get(id)
    } catch (err) {
      // Cache down or slow: answer from MySQL (counted), without trying to fill.
      this.metrics.lookup('error')
      this.log.debug({ err }, 'cache read failed; falling back to MySQL')
      return this.readWithoutCache(id)
    }
    if (raw === CACHE_BYPASSED) {
      // Breaker open: the cache is skipped without a command, so without its timeout.
      this.metrics.lookup('breaker_open')
      return this.readWithoutCache(id)
    }
    if (raw !== null) {
      const entry = decodeEntry(raw)
      if (entry.kind === 'absent') {
        this.metrics.lookup('null_hit')
        return null
      }
      avalanche.remember?.(id, entry.json)
      const breakdown = s.breakdown
      if (breakdown.onHit === undefined) {
        this.metrics.lookup('hit')
        return entry.json
      }
      // Logical expiry / early refresh: served at once, maybe stale, maybe with a rebuild behind it.
      this.metrics.lookup(breakdown.onHit(id, entry, () => this.loadAndFill(id)))
      return entry.json
    }
    this.metrics.lookup('miss')
    const loaded = s.breakdown.onMiss(id, () => this.loadAndFill(id))
    return avalanche.degrade ? loaded.catch((err: unknown) => avalanche.degrade!(id, err)) : loaded
  }

  /** The cache is unusable (error, or breaker open): MySQL under the avalanche protection, no fill. */
  private async readWithoutCache(id: string): Promise<ReadResult> {
    const avalanche = this.strategies.active.avalanche
    try {
      const order = await avalanche.protect(() => this.repo.findById(id))
      if (!order) return null
      const json = JSON.stringify(order)
      avalanche.remember?.(id, json)
      return json
    } catch (err) {
      if (avalanche.degrade) return avalanche.degrade(id, err)
      throw err
    }
  }

  /** One MySQL load plus the cache fill; the unit the breakdown strategies deduplicate. */
  async loadAndFill(id: string): Promise<string | null> {
    const s = this.strategies.active
    const order = await s.avalanche.protect(() => this.repo.findById(id))
    if (!order) {
      // Accepted into the write queue but not written yet: answer its pending state (never cached,
      // and not "missing": no null sentinel for an order that exists).
      const pending = await s.writes.pending?.(id)
      if (pending) return pending
      await s.penetration.onMissingInDb(id)
      return null
    }
    const json = JSON.stringify(order)
    s.avalanche.remember?.(id, json)
    const widen = this.chaos.beforeCacheFill()
    if (widen) await widen
    await this.fill(id, json)
    return json
  }

  /**
   * Writes a loaded order to the cache with the active TTL policy (and the breakdown mode's
   * envelope, if it has one). A failed fill is counted, not fatal; while the avalanche breaker is
   * open no fill is attempted (counted as skipped).
   */
  async fill(id: string, json: string): Promise<void> {
    const avalanche = this.strategies.active.avalanche
    try {
      const done = avalanche.cacheGuard ? await avalanche.cacheGuard.run(() => this.writeEntry(id, json)) : await this.writeEntry(id, json)
      if (done === CACHE_BYPASSED) {
        this.metrics.cacheFills.inc({ result: 'skipped' })
        return
      }
      // "refused": the consistency mode kept a newer cached version (versioned).
      this.metrics.cacheFills.inc({ result: done ? 'ok' : 'refused' })
    } catch (err) {
      this.metrics.cacheFills.inc({ result: 'error' })
      this.log.debug({ err }, 'cache fill failed; serving the order anyway')
    }
  }

  /** The cache write of a fill; the consistency mode may own it (e.g. only newer versions land). Throws. */
  private async writeEntry(id: string, json: string): Promise<boolean> {
    const s = this.strategies.active
    const ttlSeconds = s.avalanche.ttlSeconds()
    // The breakdown mode may store its own envelope (logical expiry) and Redis TTL.
    const encoded = s.breakdown.encodeFill?.(id, json, ttlSeconds)
    const value = encoded ? encoded.value : json
    const ttl = encoded ? encoded.ttlSeconds : ttlSeconds
    if (s.consistency.fill) return s.consistency.fill(id, value, ttl)
    await this.cache.set(id, value, ttl)
    return true
  }

  /** How a consistency mode writes an updated order to the cache: like a fill, but failures throw. */
  readonly cacheWriter: CacheWriter = { set: (id, json) => this.writeEntry(id, json) }

  /**
   * Warm-up: loads these orders from MySQL in batches and fills the cache at once (all with the
   * TTL policy of the moment: with fixed TTLs they will also expire together). Returns how many
   * were cached and how many do not exist.
   */
  async warm(ids: string[], batchSize = 500): Promise<{ warmed: number; missing: number }> {
    let warmed = 0
    for (let i = 0; i < ids.length; i += batchSize) {
      const batch = ids.slice(i, i + batchSize)
      const orders = await this.repo.findMany(batch)
      await Promise.all(orders.map((o) => this.fill(o.id, JSON.stringify(o))))
      warmed += orders.length
    }
    return { warmed, missing: ids.length - warmed }
  }

  async create(body: CreateOrderBody): Promise<CreateResult> {
    const order: NewOrder = { id: this.ids.next(), ...body, status: body.status ?? 'pending', createdAt: new Date().toISOString() }
    const s = this.strategies.active
    // Recorded before it is written or enqueued: no replica may answer "absent" for it once it exists.
    await s.penetration.beforeCreate?.(order.id)
    const result = await s.writes.create(order)
    await s.penetration.onCreated(order.id)
    return result
  }

  update(id: string, patch: UpdateOrderBody): Promise<Order | null> {
    return this.strategies.active.consistency.update(id, patch, this.cacheWriter)
  }
}
