import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import type { CacheStore } from '../cache/cache-store.js'
import type { CacheEntry } from '../cache/codec.js'
import type { CacheKeys } from '../cache/keys.js'
import type { NewOrder, OrderRepository } from '../db/order-repository.js'
import type { Metrics } from '../metrics.js'
import type { PendingOrder } from '../queue/order-queue.js'
import type { Order, UpdateOrderBody } from '../schemas/order.js'
import type { Family, FamilyParams } from './families.js'

/** What a strategy mode may use. One per app instance; modes never open connections of their own. */
export interface StrategyContext {
  redis: Redis
  cache: CacheStore
  repo: OrderRepository
  keys: CacheKeys
  metrics: Metrics
  log: FastifyBaseLogger
}

/** Loads one order from MySQL and fills the cache; resolves to its JSON, or null when absent. */
export type LoadAndFill = () => Promise<string | null>

/** Penetration: requests for ids that do not exist. */
export interface PenetrationStrategy {
  /**
   * False means "definitely absent": answer 404 before the cache and MySQL are read. May be async:
   * a Bloom filter makes sure it has heard of every order created elsewhere before it says no.
   */
  mightExist(id: string): boolean | Promise<boolean>
  /** MySQL has no row for this id (called once per database load). */
  onMissingInDb(id: string): Promise<void>
  /** A read that passed mightExist ends in 404 (MySQL miss or cached sentinel), once per request. */
  onAbsent?(id: string): void
  /**
   * Before an order with this id is written or enqueued: record it where every replica will see it.
   * Throwing refuses the creation (nothing was written yet).
   */
  beforeCreate?(id: string): Promise<void>
  /** An order with this id now exists (inserted or accepted into the write queue). */
  onCreated(id: string): Promise<void>
  /** The Bloom filter of this mode, when it has one (admin routes, metrics). */
  readonly bloom?: BloomControl
}

/** What the admin API can see and do with a mode's Bloom filter. */
export interface BloomControl {
  stats(): BloomStats
  /** Rebuilds this replica's filter from MySQL and the creation journal; the old one serves meanwhile. */
  rebuild(reason: BloomRebuildReason): Promise<BloomStats>
  /** Asks every replica to rebuild (through the creation journal); resolves when this one has. */
  rebuildEverywhere(): Promise<BloomStats>
  /** Stops following the journal (the mode is switched off). */
  close(): void
}

export type BloomRebuildReason = 'start' | 'admin' | 'capacity' | 'journal_gap'

export interface BloomStats {
  /** Size of the bit array (m). */
  bits: number
  /** Hash functions per id (k). */
  hashes: number
  /** Ids the filter is sized for: max(bloomCapacity, growth after an overrun). */
  capacity: number
  /** Target false-positive rate at capacity (bloomFpRate). */
  targetFpRate: number
  /** Ids added (distinct as far as the filter can tell). */
  items: number
  /** Fraction of bits set. */
  fillRatio: number
  /** Ids estimated from the fill: -(m/k) ln(1 - fill). */
  estimatedItems: number
  /** False-positive rate expected at the current fill: fill^k. */
  estimatedFpRate: number
  /** Lookups since this filter was built: "maybe" answers, rejects, and maybes that turned out absent. */
  maybes: number
  rejects: number
  falsePositives: number
  /** falsePositives / (falsePositives + rejects): the share of lookups for absent ids the filter let through; null before any. */
  measuredFpRate: number | null
  /** False while the filter may have missed creations (journal gap): it answers "maybe" to everything. */
  trusted: boolean
  rebuilding: boolean
  builtAt: string
  lastBuildSeconds: number
}

/** A cached order as the read path found it (see cache/codec.ts). */
export type CachedOrder = Extract<CacheEntry, { kind: 'order' }>

/** How a fill is stored: the value and its Redis TTL in seconds (null = no expiry). */
export interface EncodedFill {
  value: string
  ttlSeconds: number | null
}

/** Breakdown: how a miss (or an expired logical value) becomes one database load. */
export interface BreakdownStrategy {
  /** Resolves a cache miss. */
  onMiss(id: string, loadAndFill: LoadAndFill): Promise<string | null>
  /**
   * Optional: sees every cache hit of an order; says whether it is served as fresh (`hit`) or past
   * its logical expiry (`stale`), and may start a background rebuild. Synchronous: the value is
   * served at once. Absent: every hit is a plain hit (no extra work on the hot path).
   */
  onHit?(id: string, entry: CachedOrder, loadAndFill: LoadAndFill): 'hit' | 'stale'
  /**
   * Optional: how a fill is stored, given the order's JSON and the avalanche TTL (e.g. an envelope
   * carrying its own expiry and a longer Redis TTL). Absent: the JSON with the avalanche TTL.
   */
  encodeFill?(id: string, json: string, ttlSeconds: number): EncodedFill
}

/** Avalanche: the TTL of each fill, and what protects MySQL when misses come in bulk. */
export interface AvalancheStrategy {
  /** TTL in seconds for the next fill. */
  ttlSeconds(): number
  /** Runs a read-path database load under the mode's protection. */
  protect<T>(load: () => Promise<T>): Promise<T>
  /** Guards the read path's Redis calls (a circuit breaker). Absent: Redis is called directly. */
  cacheGuard?: CacheGuard
  /** Degradation: an order this replica just served (absent when no degraded answer is configured). */
  remember?(id: string, json: string): void
  /** Degradation: the answer to a read whose MySQL load was shed or failed, or rethrows `err`. */
  degrade?(id: string, err: unknown): DegradedRead
}

/** Returned by a guard instead of calling Redis while the breaker is open. */
export const CACHE_BYPASSED: unique symbol = Symbol('cache bypassed')

export interface CacheGuard {
  /** Runs the Redis call, or resolves to CACHE_BYPASSED at once, without calling, while the breaker is open. */
  run<T>(call: () => Promise<T>): Promise<T | typeof CACHE_BYPASSED>
}

/** A read answered from a fallback instead of the cache or MySQL; `degraded` says which (sent as a header). */
export interface DegradedRead {
  json: string
  degraded: string
}

/**
 * How an update may write the new order to the cache: the same write as a read-path fill (TTL
 * policy, the consistency mode's own fill when it has one), but it throws when Redis fails.
 * Resolves to false when the mode's fill refused the value (the cache already holds a newer one).
 */
export interface CacheWriter {
  set(id: string, json: string): Promise<boolean>
}

/** What an update does to MySQL and the cache. */
export interface ConsistencyStrategy {
  update(id: string, patch: UpdateOrderBody, cache: CacheWriter): Promise<Order | null>
  /**
   * Optional: owns every cache write of an order (read-path fills and writes through CacheWriter),
   * e.g. to let a value land only when its version is newer than the cached one. Resolves to
   * false when the value was refused. Absent: a plain SET with the TTL.
   */
  fill?(id: string, value: string, ttlSeconds: number | null): Promise<boolean>
}

/** 201: in MySQL. 202: accepted into the write queue; the body is what a read answers until it is written. */
export type CreateResult = { status: 201; order: Order } | { status: 202; order: PendingOrder & { state: 'queued' } }

/** How an order creation reaches MySQL. */
export interface WritesStrategy {
  create(order: NewOrder): Promise<CreateResult>
  /** An accepted order not yet in MySQL: its pending state as JSON, or null. Asked on a MySQL miss. */
  pending?(id: string): Promise<string | null>
}

export interface FamilyStrategies {
  penetration: PenetrationStrategy
  breakdown: BreakdownStrategy
  avalanche: AvalancheStrategy
  consistency: ConsistencyStrategy
  writes: WritesStrategy
}

/** A mode: one file under strategies/<family>/, registered in catalogue.ts. */
export interface ModeDefinition<F extends Family = Family> {
  family: F
  name: string
  description: string
  /** Family parameters this mode reads (shown in the catalogue). */
  uses: readonly (keyof FamilyParams[F] & string)[]
  /** Builds the mode; may be async (a Bloom filter loads ids first). The old instance serves meanwhile. */
  create(ctx: StrategyContext, params: FamilyParams[F]): FamilyStrategies[F] | Promise<FamilyStrategies[F]>
  /** Releases timers or subscriptions when the mode is switched off. */
  dispose?(instance: FamilyStrategies[F]): void | Promise<void>
}

/** Identity helper that keeps a mode file's types checked against its family. */
export function defineMode<F extends Family>(def: ModeDefinition<F>): ModeDefinition<F> {
  return def
}
