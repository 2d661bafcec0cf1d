import { setTimeout as sleep } from 'node:timers/promises'
import { encodeLogical } from '../../cache/codec.js'
import { SingleFlight } from '../../cache/single-flight.js'
import type { FamilyParams } from '../families.js'
import { defineMode, type BreakdownStrategy, type CachedOrder, type EncodedFill, type LoadAndFill, type StrategyContext } from '../types.js'
import { DRAIN_MS, LockedLoader } from './locked-load.js'
import { BreakdownMetrics } from './metrics.js'

/**
 * "Hot keys never expire": the value carries its expiry (logicalTtlSeconds) and Redis keeps it
 * longer. A read past that expiry is served at once (counted `stale`) and starts one rebuild in the
 * background, under the same lock as `mutex`, so across replicas exactly one request reloads it.
 * A cold miss (no value at all) takes the `mutex` path.
 */
export class LogicalExpiry implements BreakdownStrategy {
  private readonly m: BreakdownMetrics
  private readonly loader: LockedLoader
  private readonly flights: SingleFlight<string | null>
  /** Background rebuilds (or lock attempts) in flight in this process, per id. */
  private readonly refreshes = new SingleFlight<void>()

  constructor(
    private readonly ctx: StrategyContext,
    private readonly params: FamilyParams['breakdown'],
  ) {
    this.m = new BreakdownMetrics(ctx.metrics)
    this.loader = new LockedLoader(ctx, params, this.m)
    this.flights = new SingleFlight<string | null>(() => this.m.coalesced.inc())
  }

  onMiss(id: string, loadAndFill: LoadAndFill): Promise<string | null> {
    return this.flights.run(id, () => this.loader.load(id, loadAndFill))
  }

  onHit(id: string, entry: CachedOrder, loadAndFill: LoadAndFill): 'hit' | 'stale' {
    const expiresAt = entry.logicalExpiresAt
    // A plain entry (filled under another mode) expires by its Redis TTL: a normal hit.
    if (expiresAt === undefined || expiresAt > Date.now()) return 'hit'
    if (!this.refreshes.has(id)) {
      this.refreshes.run(id, () => this.rebuildInBackground(id, loadAndFill)).catch((err) => this.ctx.log.warn({ err, id }, 'background rebuild failed'))
    }
    return 'stale'
  }

  /**
   * The envelope expires logically after logicalTtlSeconds. Redis keeps the key one avalanche TTL
   * longer: an entry nobody reads leaves memory, and a switch to another mode never leaves
   * immortal entries behind.
   */
  encodeFill(_id: string, json: string, ttlSeconds: number): EncodedFill {
    const logical = this.params.logicalTtlSeconds
    return { value: encodeLogical(json, Date.now() + logical * 1000), ttlSeconds: logical + ttlSeconds }
  }

  private async rebuildInBackground(id: string, loadAndFill: LoadAndFill): Promise<void> {
    let token: string | null
    try {
      token = await this.loader.tryAcquire(id)
    } catch {
      token = null
    }
    if (token === null) {
      // Another request (maybe on another replica) is rebuilding, or Redis failed: keep serving the
      // stale value, and let this process ask again only after a backoff.
      await sleep(this.params.lockBackoffMs)
      return
    }
    try {
      await this.loader.rebuildAsOwner(id, token, 'logical_expiry', loadAndFill)
    } catch (err) {
      // The stale value keeps being served; a stale read tries again after a backoff.
      this.ctx.log.warn({ err, id }, 'background rebuild failed; serving the stale value')
      await sleep(this.params.lockBackoffMs)
    }
  }

  /** Lets background rebuilds finish (they use Redis and MySQL, which close after this at shutdown). */
  drain(): Promise<void> {
    // Bounded: a mode switch (or shutdown) waits a little for rebuilds in flight, never for a slow
    // database; one that outlives it fails quietly and the next read retries.
    return this.refreshes.drain(DRAIN_MS)
  }
}

export default defineMode({
  family: 'breakdown',
  name: 'logical-expiry',
  description:
    'Never-expire: the value carries its own expiry (logicalTtlSeconds) and stays in Redis. An expired value is served at once (stale) while one background rebuild under the mutex lock refreshes it, across replicas; a cold miss takes the mutex path.',
  uses: ['logicalTtlSeconds', 'lockTtlMs', 'lockWaitMs', 'lockBackoffMs', 'lockFallback'],
  create: (ctx, params) => new LogicalExpiry(ctx, params),
  dispose: (instance) => (instance as LogicalExpiry).drain(),
})
