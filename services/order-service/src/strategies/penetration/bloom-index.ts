import { randomBytes } from 'node:crypto'
import { setImmediate } from 'node:timers/promises'
import { Counter, Gauge } from 'prom-client'
import type { FamilyParams } from '../families.js'
import type { Metrics } from '../../metrics.js'
import type { BloomControl, BloomRebuildReason, BloomStats, StrategyContext } from '../types.js'
import { createFilter, type Filter } from './bloom-hashing.js'
import { JournalFollower, journalKey, readWholeJournal, requestRebuild, type JournalEvent } from './creation-journal.js'

/** Rows per keyset query while scanning MySQL. */
const SCAN_CHUNK = 2000
/** Ids added between yields to the event loop (keeps request latency flat while a big filter builds). */
const HASH_SLICE = 200
/** Background catch-up with the journal, so filters stay fresh without rejects asking. */
const FOLLOW_INTERVAL_MS = 1000
/** After a failed background rebuild, wait this long before the next try. */
const RETRY_AFTER_FAILURE_MS = 2000

/** Optimal size in bits for n items at false-positive rate p: m = ⌈−n·ln p / (ln 2)²⌉. */
export function optimalBits(n: number, p: number): number {
  return Math.ceil(-(n * Math.log(p)) / Math.LN2 ** 2)
}

/** Hash functions for m bits and n items: k = ⌈(m/n)·ln 2⌉ (as bloom-filters computes it). */
export function optimalHashes(m: number, n: number): number {
  return Math.ceil((m / n) * Math.LN2)
}

const BITS_IN_BYTE = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0
  for (let v = b; v; v >>= 1) n += v & 1
  return n
})

/** Bits set in a byte array (the library's own count loops bit by bit: ~10 ms at 1M capacity). */
function popcount(bytes: Uint8Array): number {
  let n = 0
  for (let i = 0; i < bytes.length; i++) n += BITS_IN_BYTE[bytes[i]!]!
  return n
}

/** One built filter and what it has seen since it was built. */
class Generation {
  readonly filter: Filter
  items = 0
  maybes = 0
  rejects = 0
  falsePositives = 0
  readonly builtAt = new Date()
  buildSeconds = 0
  private bitsSet: number | undefined

  constructor(
    readonly capacity: number,
    readonly targetFpRate: number,
  ) {
    // BloomFilter.create sizes with the formulas above; the hashing is ours (bloom-hashing.ts).
    this.filter = createFilter(capacity, targetFpRate)
  }

  /** Adds an id; counts it when the filter did not already (probably) hold it. */
  add(id: string): void {
    if (this.filter.has(id)) return
    this.addUnique(id)
  }

  /** Adds an id known not to have been added before (the MySQL scan: primary keys), hashing it once. */
  addUnique(id: string): void {
    this.filter.add(id)
    this.items++
    this.bitsSet = undefined
  }

  /** Fraction of bits set (one pass over the array, cached until the next add). */
  fill(): number {
    this.bitsSet ??= popcount(this.filter._filter.array)
    return this.bitsSet / this.filter.size
  }
}

/** Per-app instruments (one Registry per app): counters, and gauges read from the active index at scrape. */
interface Instruments {
  active: BloomIndex | undefined
  checks: { maybe: { inc(): void }; caughtUp: { inc(): void }; absent: { inc(): void }; unchecked: { inc(): void } }
  falsePositives: { inc(): void }
  rebuilds: ReturnType<Metrics['counter']>
  syncs: ReturnType<Metrics['counter']>
}
const instrumentsByMetrics = new WeakMap<Metrics, Instruments>()

function instruments(metrics: Metrics): Instruments {
  const existing = instrumentsByMetrics.get(metrics)
  if (existing) return existing
  // Checks run on every read: counted in plain numbers, added to the counter when it is read
  // (scrape or get()), as a labelled inc() hashes its label set on every call.
  const answers = ['maybe', 'caught_up', 'absent', 'unchecked'] as const
  const counts: Record<(typeof answers)[number], number> = { maybe: 0, caught_up: 0, absent: 0, unchecked: 0 }
  new Counter({
    name: 'cachelab_bloom_checks_total',
    help: 'Bloom filter answers on the read path: maybe; caught_up (absent here, present once caught up with the creation journal: an order created on another replica); absent (a reject: 404 without the cache or MySQL); unchecked (filter not trusted or journal unreachable: let through)',
    labelNames: ['answer'],
    registers: [metrics.registry],
    collect() {
      for (const answer of answers) {
        const n = counts[answer]
        if (n === 0) continue
        counts[answer] = 0
        this.inc({ answer }, n)
      }
    },
  })
  const inst: Instruments = {
    active: undefined,
    checks: { maybe: { inc: () => counts.maybe++ }, caughtUp: { inc: () => counts.caught_up++ }, absent: { inc: () => counts.absent++ }, unchecked: { inc: () => counts.unchecked++ } },
    falsePositives: metrics.counter('cachelab_bloom_false_positives_total', 'Reads the Bloom filter let through ("maybe") that ended in 404: a MySQL miss or a cached sentinel', []),
    rebuilds: metrics.counter('cachelab_bloom_rebuilds_total', 'Bloom filter builds on this replica, by reason and result', ['reason', 'result']),
    syncs: metrics.counter('cachelab_bloom_journal_syncs_total', 'Catch-ups with the creation journal (one Redis round trip each, shared by the rejects waiting for it), by result; gap = entries were trimmed unseen', ['result']),
  }
  const gauge = (name: string, help: string, read: (s: BloomStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      collect() {
        const s = inst.active?.stats()
        this.set(s ? read(s) : 0)
      },
    })
  gauge('cachelab_bloom_bits', 'Size of the Bloom filter bit array (m); 0 when no filter is active', (s) => s.bits)
  gauge('cachelab_bloom_hash_functions', 'Hash functions per id (k)', (s) => s.hashes)
  gauge('cachelab_bloom_capacity_items', 'Ids the filter is sized for', (s) => s.capacity)
  gauge('cachelab_bloom_items', 'Ids added to the filter', (s) => s.items)
  gauge('cachelab_bloom_estimated_items', 'Ids estimated from the fill: -(m/k) ln(1 - fill)', (s) => s.estimatedItems)
  gauge('cachelab_bloom_fill_ratio', 'Fraction of the filter bits set', (s) => s.fillRatio)
  gauge('cachelab_bloom_trusted', '1 when the filter has seen every creation; 0 after a journal gap, until a rebuild (it then rejects nothing)', (s) => (s.trusted ? 1 : 0))
  gauge('cachelab_bloom_rebuilding', '1 while a rebuild is running (the previous filter serves meanwhile)', (s) => (s.rebuilding ? 1 : 0))
  gauge('cachelab_bloom_last_build_duration_seconds', 'How long the last build took (MySQL scan and journal read)', (s) => s.lastBuildSeconds)
  new Gauge({
    name: 'cachelab_bloom_false_positive_ratio',
    help: 'Bloom false-positive rate: target (bloomFpRate at capacity), estimated (fill^k now), measured (maybes that ended in 404 / reads of absent ids, since the filter was built; NaN before any)',
    labelNames: ['source'],
    registers: [metrics.registry],
    collect() {
      const s = inst.active?.stats()
      this.set({ source: 'target' }, s?.targetFpRate ?? 0)
      this.set({ source: 'estimated' }, s?.estimatedFpRate ?? 0)
      this.set({ source: 'measured' }, s ? (s.measuredFpRate ?? Number.NaN) : 0)
    },
  })
  instrumentsByMetrics.set(metrics, inst)
  return inst
}

/**
 * A Bloom filter of every existing order id, on this replica, kept complete across replicas.
 *
 * - Built from MySQL (keyset scan in id order, SCAN_CHUNK rows at a time) plus every entry still in
 *   the creation journal (orders accepted but maybe not yet in MySQL).
 * - Follows the journal: every creation on any replica is journaled before it is acknowledged, and
 *   before answering "definitely absent" the index catches up with the journal (sync() starts a
 *   read after the request arrived). So an acknowledged order is in the filter when it is consulted.
 * - Rebuilds (admin, capacity overrun, journal gap) build a new filter while the old one serves;
 *   every id the old filter learns meanwhile is added to the new one too, and the swap is one
 *   synchronous assignment: no moment without a complete filter.
 */
export class BloomIndex implements BloomControl {
  private current: Generation | undefined
  private building: Generation | undefined
  private running: Promise<BloomStats> | undefined
  private trusted = true
  /** Incremented at every journal gap: a rebuild restores trust only if none happened since it started. */
  private gapEpoch = 0
  private lastFailureAt = 0
  private closed = false
  private timer: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  /** Marks this index's own rebuild requests in the journal. */
  private readonly token = randomBytes(8).toString('hex')
  private readonly follower: JournalFollower
  private readonly m: Instruments

  private constructor(
    private readonly ctx: StrategyContext,
    private readonly params: FamilyParams['penetration'],
  ) {
    this.m = instruments(ctx.metrics)
    this.follower = new JournalFollower(
      ctx.redis,
      journalKey(ctx.keys),
      (e) => this.onJournal(e),
      () => this.onGap(),
      (ok) => this.m.syncs.inc({ result: ok ? 'ok' : 'error' }),
    )
  }

  /** Builds the first filter; resolves when it is complete and caught up with the journal. */
  static async start(ctx: StrategyContext, params: FamilyParams['penetration']): Promise<BloomIndex> {
    const index = new BloomIndex(ctx, params)
    // Position first: creations from here on reach the filter through the journal; earlier ones
    // are in MySQL or still in the journal, both read by the build.
    await index.follower.startAtEnd()
    try {
      await index.run('start')
      await index.follower.sync()
    } catch (err) {
      index.close()
      throw err
    }
    index.m.active = index
    index.timer = setInterval(() => index.follow(), FOLLOW_INTERVAL_MS)
    index.timer.unref()
    // More orders than the configured capacity: serve this (complete, fuller) filter and resize.
    index.afterRun()
    return index
  }

  /** True: maybe present. False: certainly absent, after catching up with every replica's creations. */
  mightExist(id: string): boolean | Promise<boolean> {
    const g = this.current!
    if (!this.trusted) {
      this.m.checks.unchecked.inc()
      return true
    }
    if (g.filter.has(id)) {
      g.maybes++
      this.m.checks.maybe.inc()
      return true
    }
    return this.confirmAbsent(id)
  }

  private async confirmAbsent(id: string): Promise<boolean> {
    try {
      await this.follower.sync()
    } catch (err) {
      // Cannot prove nothing was created elsewhere: let it through (Redis, then MySQL, decide).
      this.m.checks.unchecked.inc()
      this.ctx.log.debug({ err }, 'creation journal unreachable; not rejecting')
      return true
    }
    const g = this.current!
    if (!this.trusted) {
      this.m.checks.unchecked.inc()
      return true
    }
    if (g.filter.has(id)) {
      g.maybes++
      this.m.checks.caughtUp.inc()
      return true
    }
    g.rejects++
    this.m.checks.absent.inc()
    return false
  }

  /** A read this filter let through ended in 404: a false positive if the filter holds the id. */
  onAbsent(id: string): void {
    const g = this.current
    // Reads let through unchecked (untrusted, journal down) are not the filter's answer.
    if (!g || !this.trusted || !g.filter.has(id)) return
    g.falsePositives++
    this.m.falsePositives.inc()
  }

  /** An id created (here, or read from the journal). Added to the filter being built too. */
  add(id: string): void {
    this.current?.add(id)
    this.building?.add(id)
    const g = this.current
    if (g && g.items > g.capacity && !this.running && Date.now() - this.lastFailureAt > RETRY_AFTER_FAILURE_MS) {
      this.background('capacity')
    }
  }

  stats(): BloomStats {
    const g = this.current ?? this.building!
    const m = g.filter.size
    const k = g.filter._nbHashes
    const fill = g.fill()
    const decided = g.falsePositives + g.rejects
    return {
      bits: m,
      hashes: k,
      capacity: g.capacity,
      targetFpRate: g.targetFpRate,
      items: g.items,
      fillRatio: fill,
      estimatedItems: fill < 1 ? Math.round((-m / k) * Math.log(1 - fill)) : Number.POSITIVE_INFINITY,
      estimatedFpRate: fill ** k,
      maybes: g.maybes,
      rejects: g.rejects,
      falsePositives: g.falsePositives,
      measuredFpRate: decided > 0 ? g.falsePositives / decided : null,
      trusted: this.trusted,
      rebuilding: this.running !== undefined,
      builtAt: g.builtAt.toISOString(),
      lastBuildSeconds: g.buildSeconds,
    }
  }

  rebuild(reason: BloomRebuildReason): Promise<BloomStats> {
    this.running ??= this.run(reason)
      .finally(() => {
        this.running = undefined
        this.afterRun()
      })
      .then(() => this.stats())
    return this.running
  }

  async rebuildEverywhere(): Promise<BloomStats> {
    // Other replicas see the request at their next catch-up (at most FOLLOW_INTERVAL_MS away).
    await requestRebuild(this.ctx.redis, this.ctx.keys, this.token)
    return this.rebuild('admin')
  }

  close(): void {
    this.closed = true
    clearInterval(this.timer)
    clearTimeout(this.retryTimer)
    if (this.m.active === this) this.m.active = undefined
  }

  private follow(): void {
    this.follower.sync().catch((err: Error) => this.ctx.log.debug({ err }, 'creation journal catch-up failed; retrying'))
  }

  private onJournal(e: JournalEvent): void {
    if (e.kind === 'created') this.add(e.id)
    else if (e.token !== this.token && this.current) this.background('admin')
  }

  private onGap(): void {
    // Some creations were trimmed from the journal before this replica read them: until a rebuild
    // that starts after now completes, the filter may lack them, so it rejects nothing.
    this.m.syncs.inc({ result: 'gap' })
    this.trusted = false
    this.gapEpoch++
    this.ctx.log.warn('creation journal gap: the Bloom filter rejects nothing until it is rebuilt')
    if (!this.running && this.current) this.background('journal_gap')
  }

  private background(reason: BloomRebuildReason): void {
    if (this.closed) return
    this.rebuild(reason).catch((err: Error) => this.ctx.log.error({ err, reason }, 'Bloom filter rebuild failed; the previous filter keeps serving'))
  }

  /** After a run: a gap during it, or a failure while untrusted, needs another one. */
  private afterRun(): void {
    if (this.closed || !this.current) return
    if (!this.trusted) {
      clearTimeout(this.retryTimer)
      const wait = Date.now() - this.lastFailureAt < RETRY_AFTER_FAILURE_MS ? RETRY_AFTER_FAILURE_MS : 0
      this.retryTimer = setTimeout(() => this.background('journal_gap'), wait)
      this.retryTimer.unref()
    } else if (this.current.items > this.current.capacity && Date.now() - this.lastFailureAt > RETRY_AFTER_FAILURE_MS) {
      this.background('capacity')
    }
  }

  private async run(reason: BloomRebuildReason): Promise<void> {
    const epoch = this.gapEpoch
    const started = performance.now()
    // Sized for the configured capacity, or twice what the filter holds once it has outgrown it.
    const items = this.current?.items ?? 0
    const capacity = Math.max(this.params.bloomCapacity, items > this.params.bloomCapacity ? 2 * items : 0)
    const gen = new Generation(capacity, this.params.bloomFpRate)
    this.building = gen
    try {
      let after = '0'
      for (;;) {
        const ids = await this.ctx.repo.idsAfter(after, SCAN_CHUNK)
        for (let i = 0; i < ids.length; i += HASH_SLICE) {
          if (this.closed) throw new Error('Bloom index closed during a build')
          for (const id of ids.slice(i, i + HASH_SLICE)) gen.addUnique(id)
          await setImmediate()
        }
        if (ids.length < SCAN_CHUNK) break
        after = ids[ids.length - 1]!
      }
      // Journaled ids are mostly in MySQL already: add() skips those the filter holds.
      const journaled: string[] = []
      await readWholeJournal(this.ctx.redis, this.ctx.keys, (e) => {
        if (e.kind === 'created') journaled.push(e.id)
      })
      for (let i = 0; i < journaled.length; i += HASH_SLICE) {
        for (const id of journaled.slice(i, i + HASH_SLICE)) gen.add(id)
        await setImmediate()
      }
    } catch (err) {
      if (this.building === gen) this.building = undefined
      this.lastFailureAt = Date.now()
      this.m.rebuilds.inc({ reason, result: 'error' })
      throw err
    }
    // The swap: synchronous with the end of the build, so no id added in between is lost.
    gen.buildSeconds = (performance.now() - started) / 1000
    this.current = gen
    this.building = undefined
    if (epoch === this.gapEpoch) this.trusted = true
    this.m.rebuilds.inc({ reason, result: 'ok' })
    this.ctx.log.info({ reason, items: gen.items, capacity, bits: gen.filter.size, hashes: gen.filter._nbHashes, seconds: gen.buildSeconds }, 'Bloom filter built')
  }
}
