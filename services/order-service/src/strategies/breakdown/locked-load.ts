import { setTimeout as sleep } from 'node:timers/promises'
import { decodeEntry } from '../../cache/codec.js'
import { RedisLock } from '../../cache/lock.js'
import { LockWaitTimeout } from '../../errors.js'
import type { FamilyParams } from '../families.js'
import type { LoadAndFill, StrategyContext } from '../types.js'
import type { BreakdownMetrics, LockWaitOutcome, RebuildTrigger } from './metrics.js'

type Params = FamilyParams['breakdown']

/** Backoff between cache re-reads doubles from lockBackoffMs up to this many times it. */
export const BACKOFF_CAP_FACTOR = 8

/** Longest a mode switch or shutdown waits for background rebuilds still in flight. */
export const DRAIN_MS = 500

/** What a re-read of the cache found: a value to serve (JSON, or null = "no such order"), or nothing usable. */
export type Usable = string | null | undefined

/**
 * Reads the entry and returns it when it can be served as fresh: an order not past its logical
 * expiry, or the not-found sentinel. A failed read counts as nothing found (the lock decides next).
 */
export async function readFresh(ctx: StrategyContext, id: string, now = Date.now()): Promise<Usable> {
  let raw: string | null
  try {
    raw = await ctx.cache.get(id)
  } catch {
    return undefined
  }
  if (raw === null) return undefined
  const entry = decodeEntry(raw)
  if (entry.kind === 'absent') return null
  if (entry.logicalExpiresAt !== undefined && entry.logicalExpiresAt <= now) return undefined
  return entry.json
}

/**
 * One loader per key across replicas. Acquire `lock(id)` with SET NX PX; the owner re-reads the
 * cache (another loader may have filled it since our miss), loads only if still missing, and
 * releases by compare-and-delete. The others back off (doubling, capped), re-reading the cache and
 * retrying the lock (a dead holder's lock expires after lockTtlMs), until lockWaitMs; then the
 * fallback: load anyway (`db`) or a 503 (`fail`). In-process coalescing is the caller's.
 */
export class LockedLoader {
  readonly lock: RedisLock

  constructor(
    private readonly ctx: StrategyContext,
    private readonly params: Params,
    private readonly m: BreakdownMetrics,
  ) {
    this.lock = new RedisLock(ctx.redis)
  }

  /** Tries the lock once; null when busy. A Redis error is counted and rethrown. */
  async tryAcquire(id: string): Promise<string | null> {
    try {
      const token = await this.lock.tryAcquire(this.ctx.keys.lock(id), this.params.lockTtlMs)
      this.m.lockAttempts.inc({ result: token === null ? 'busy' : 'acquired' })
      return token
    } catch (err) {
      this.m.lockAttempts.inc({ result: 'error' })
      throw err
    }
  }

  /** Releases if still ours. Never throws: an unreleased lock expires by its TTL. */
  async release(id: string, token: string): Promise<void> {
    try {
      const released = await this.lock.release(this.ctx.keys.lock(id), token)
      this.m.lockReleases.inc({ result: released ? 'released' : 'not_owner' })
    } catch (err) {
      this.m.lockReleases.inc({ result: 'error' })
      this.ctx.log.debug({ err }, 'lock release failed; it expires by its TTL')
    }
  }

  /** As the owner: double-check the cache, then load. */
  async rebuildAsOwner(id: string, token: string, trigger: RebuildTrigger, loadAndFill: LoadAndFill): Promise<string | null> {
    try {
      const fresh = await readFresh(this.ctx, id)
      if (fresh !== undefined) {
        this.m.rebuilds.inc({ trigger, result: 'already_fresh' })
        return fresh
      }
      return await this.m.rebuild(trigger, loadAndFill)
    } finally {
      await this.release(id, token)
    }
  }

  /** Resolves a cold miss with at most one load per key across replicas (while the lock holds). */
  async load(id: string, loadAndFill: LoadAndFill): Promise<string | null> {
    const p = this.params
    const cap = p.lockBackoffMs * BACKOFF_CAP_FACTOR
    let backoff = p.lockBackoffMs
    let waitStarted: number | undefined
    const endWait = (outcome: LockWaitOutcome) => {
      if (waitStarted !== undefined) this.m.lockWait.observe({ outcome }, (performance.now() - waitStarted) / 1000)
    }
    for (;;) {
      let token: string | null
      try {
        token = await this.tryAcquire(id)
      } catch (err) {
        // Redis cannot coordinate: answer from MySQL rather than fail the read.
        this.ctx.log.debug({ err }, 'rebuild lock unavailable; loading without it')
        endWait('error')
        return this.m.rebuild('lock_error', loadAndFill)
      }
      if (token !== null) {
        endWait('acquired')
        return this.rebuildAsOwner(id, token, 'miss', loadAndFill)
      }
      waitStarted ??= performance.now()
      const remaining = waitStarted + p.lockWaitMs - performance.now()
      if (remaining <= 0) {
        endWait('timeout')
        this.m.lockTimeouts.inc({ fallback: p.lockFallback })
        if (p.lockFallback === 'fail') throw new LockWaitTimeout(id, p.lockWaitMs)
        return this.m.rebuild('lock_timeout', loadAndFill)
      }
      await sleep(Math.min(backoff, remaining))
      backoff = Math.min(backoff * 2, cap)
      const fresh = await readFresh(this.ctx, id)
      if (fresh !== undefined) {
        endWait('filled')
        return fresh
      }
    }
  }
}
