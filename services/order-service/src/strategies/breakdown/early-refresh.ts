import { encodeLogical } from '../../cache/codec.js'
import { SingleFlight } from '../../cache/single-flight.js'
import type { FamilyParams } from '../families.js'
import { defineMode, type BreakdownStrategy, type CachedOrder, type EncodedFill, type LoadAndFill, type StrategyContext } from '../types.js'
import { DRAIN_MS } from './locked-load.js'
import { BreakdownMetrics, type RebuildTrigger } from './metrics.js'

/**
 * XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
 * VLDB 2015): refresh when `now - delta * beta * ln(random) >= expiry`, delta being how long the
 * value took to recompute. The chance grows as expiry nears and with the cost of a recompute, so
 * a hot key is usually reloaded once, shortly before it expires, and never expires under load.
 * `random` is in (0, 1]: ln(random) <= 0.
 */
export function shouldRefreshEarly(nowMs: number, expiresAtMs: number, deltaMs: number, beta: number, random = 1 - Math.random()): boolean {
  return nowMs - deltaMs * beta * Math.log(random) >= expiresAtMs
}

/**
 * Probabilistic early refresh, without a lock. The value is stored with its expiry (the avalanche
 * TTL, which is also its Redis TTL) and its recompute time; a hit that draws an early refresh is
 * served as is while one background reload (per process) runs. A cold miss is coalesced per
 * process (single-flight), not across replicas.
 */
export class EarlyRefresh implements BreakdownStrategy {
  private readonly m: BreakdownMetrics
  private readonly flights: SingleFlight<string | null>
  /** Loads in flight, to measure their recompute time when their fill is encoded. */
  private readonly loadStartedAt = new Map<string, number>()
  /** The last recompute time measured here; used for fills that were not timed (warm-up). */
  private lastRecomputeMs = 0

  constructor(
    private readonly ctx: StrategyContext,
    private readonly params: FamilyParams['breakdown'],
  ) {
    this.m = new BreakdownMetrics(ctx.metrics)
    this.flights = new SingleFlight<string | null>(() => this.m.coalesced.inc())
  }

  onMiss(id: string, loadAndFill: LoadAndFill): Promise<string | null> {
    return this.flights.run(id, () => this.timedRebuild(id, 'miss', loadAndFill))
  }

  onHit(id: string, entry: CachedOrder, loadAndFill: LoadAndFill): 'hit' | 'stale' {
    const expiresAt = entry.logicalExpiresAt
    if (expiresAt === undefined) return 'hit'
    const now = Date.now()
    if (!shouldRefreshEarly(now, expiresAt, entry.recomputeMs ?? 0, this.params.earlyRefreshBeta)) return 'hit'
    if (!this.flights.has(id)) {
      this.flights.run(id, () => this.timedRebuild(id, 'early_refresh', loadAndFill)).catch((err) => {
        this.ctx.log.warn({ err, id }, 'early refresh failed; the value expires as usual')
      })
    }
    // Only a value already past its expiry (e.g. expired by a chaos action) is stale.
    return now < expiresAt ? 'hit' : 'stale'
  }

  encodeFill(id: string, json: string, ttlSeconds: number): EncodedFill {
    const started = this.loadStartedAt.get(id)
    if (started !== undefined) this.lastRecomputeMs = Math.round(performance.now() - started)
    return { value: encodeLogical(json, Date.now() + ttlSeconds * 1000, this.lastRecomputeMs), ttlSeconds }
  }

  private async timedRebuild(id: string, trigger: RebuildTrigger, loadAndFill: LoadAndFill): Promise<string | null> {
    this.loadStartedAt.set(id, performance.now())
    try {
      return await this.m.rebuild(trigger, loadAndFill)
    } finally {
      this.loadStartedAt.delete(id)
    }
  }

  drain(): Promise<void> {
    // Bounded: a mode switch (or shutdown) waits a little for rebuilds in flight, never for a slow
    // database; one that outlives it fails quietly and the next read retries.
    return this.flights.drain(DRAIN_MS)
  }
}

export default defineMode({
  family: 'breakdown',
  name: 'early-refresh',
  description:
    'Probabilistic early recomputation (XFetch, VLDB 2015): a read refreshes the value in the background with a chance that grows as expiry nears and with its load time (earlyRefreshBeta); no lock. Cold misses are coalesced per process only.',
  uses: ['earlyRefreshBeta'],
  create: (ctx, params) => new EarlyRefresh(ctx, params),
  dispose: (instance) => (instance as EarlyRefresh).drain(),
})
