import type { Redis } from 'ioredis'
import type { RowDataPacket } from 'mysql2/promise'
import { decodeEntry } from '../cache/codec.js'
import type { CacheKeys } from '../cache/keys.js'
import type { OrderRepository } from '../db/order-repository.js'
import { CacheUnavailable } from '../errors.js'
import type { Metrics } from '../metrics.js'

export interface StaleEntry {
  id: string
  /** The cached order's version; null for a "not found" sentinel of an order that exists. */
  cachedVersion: number | null
  dbVersion: number
  /** now − MySQL's updated_at: the entry has been stale at least this long. */
  ageMs: number
}

export interface AuditReport {
  at: string
  tookMs: number
  /** `sample`: the next `limit` cached orders of a scan that goes on where the last audit stopped. `all`: every cached order (up to `limit`). */
  scope: AuditScope
  /** Cached entries compared with MySQL. */
  compared: number
  /** Entries older than MySQL, confirmed by a second cache read after the MySQL read. */
  stale: number
  /** Cached orders MySQL does not have. */
  missingInDb: number
  maxStaleAgeMs: number
  /** The oldest stale entries found (at most 50). */
  staleEntries: StaleEntry[]
  /** scope `all`: the limit was reached before the scan ended. */
  truncated: boolean
}

export type AuditScope = 'sample' | 'all'

interface VersionRow extends RowDataPacket {
  id: string
  version: number
  updated_at: Date
}

const CHUNK = 500
const AGE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]

/**
 * Measures staleness instead of believing in it: samples cached orders, reads their versions from
 * MySQL and reports the entries that are behind, and for how long. Its MySQL reads are counted as
 * operation `audit`, never as read-path selects. An entry counts as stale only if the cache still
 * holds the same bytes after the MySQL read: an entry deleted or refreshed in between is not.
 */
export class ConsistencyAuditor {
  private cursor = '0'
  private last: AuditReport | null = null
  private queue: Promise<unknown> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private readonly m

  constructor(
    private readonly redis: Redis,
    private readonly keys: CacheKeys,
    private readonly repo: OrderRepository,
    metrics: Metrics,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {
    this.m = {
      audits: metrics.counter('cachelab_consistency_audits_total', 'Consistency audits run, by result', ['result']),
      samples: metrics.counter('cachelab_consistency_audit_samples_total', 'Cached orders the auditor compared with MySQL', []),
      stale: metrics.counter('cachelab_consistency_audit_stale_entries_total', 'Cached orders the auditor found older than MySQL', []),
      age: metrics.histogram('cachelab_consistency_audit_stale_age_seconds', 'Age of each stale entry found: now minus the MySQL update it misses (a lower bound)', [], AGE_BUCKETS),
      lastStale: metrics.gauge('cachelab_consistency_audit_last_stale_entries', 'Stale entries found by the last audit', []),
      lastMaxAge: metrics.gauge('cachelab_consistency_audit_last_max_stale_age_seconds', 'Age of the oldest stale entry found by the last audit', []),
    }
    this.m.audits.inc({ result: 'ok' }, 0)
    this.m.audits.inc({ result: 'error' }, 0)
    this.m.samples.inc(0)
    this.m.stale.inc(0)
  }

  lastReport(): AuditReport | null {
    return this.last
  }

  /** Periodic sampling audits (AUDIT_INTERVAL_MS); failures are logged and counted. */
  start(intervalMs: number, sample: number): void {
    this.timer = setInterval(() => {
      this.audit('sample', sample).catch((err: Error) => this.log.warn({ err: err.message }, 'consistency audit failed'))
    }, intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.queue.catch(() => {})
  }

  /** Runs one audit (audits run one at a time: the sample cursor is shared). */
  audit(scope: AuditScope, limit: number): Promise<AuditReport> {
    const run = this.queue.catch(() => {}).then(() => this.run(scope, limit))
    this.queue = run
    return run
  }

  private async run(scope: AuditScope, limit: number): Promise<AuditReport> {
    const started = Date.now()
    try {
      const { keys, truncated } = await this.cacheRead(() => this.scan(scope, limit))
      let compared = 0
      let missingInDb = 0
      const stale: StaleEntry[] = []
      for (let i = 0; i < keys.length; i += CHUNK) {
        const r = await this.compare(keys.slice(i, i + CHUNK))
        compared += r.compared
        missingInDb += r.missingInDb
        stale.push(...r.stale)
      }
      stale.sort((a, b) => b.ageMs - a.ageMs)
      const report: AuditReport = {
        at: new Date(started).toISOString(),
        tookMs: Date.now() - started,
        scope,
        compared,
        stale: stale.length,
        missingInDb,
        maxStaleAgeMs: stale[0]?.ageMs ?? 0,
        staleEntries: stale.slice(0, 50),
        truncated,
      }
      this.m.audits.inc({ result: 'ok' })
      this.m.samples.inc(compared)
      this.m.stale.inc(stale.length)
      for (const s of stale) this.m.age.observe(s.ageMs / 1000)
      this.m.lastStale.set(stale.length)
      this.m.lastMaxAge.set(report.maxStaleAgeMs / 1000)
      this.last = report
      return report
    } catch (err) {
      this.m.audits.inc({ result: 'error' })
      throw err
    }
  }

  /** SCAN (never KEYS) for cached orders; `sample` goes on from where the last sample stopped. */
  private async scan(scope: AuditScope, limit: number): Promise<{ keys: string[]; truncated: boolean }> {
    let cursor = scope === 'all' ? '0' : this.cursor
    const keys = new Set<string>()
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', this.keys.orderPattern(), 'COUNT', 1000)
      cursor = next
      for (const k of batch) if (keys.size < limit) keys.add(k)
    } while (cursor !== '0' && keys.size < limit)
    if (scope === 'sample') this.cursor = cursor
    return { keys: [...keys], truncated: scope === 'all' && cursor !== '0' }
  }

  private async compare(keys: string[]): Promise<{ compared: number; missingInDb: number; stale: StaleEntry[] }> {
    const prefix = this.keys.order('')
    const raw = await this.cacheRead(() => this.redis.mget(keys))
    const cached = new Map<string, { key: string; raw: string; version: number | null }>()
    keys.forEach((key, i) => {
      const value = raw[i]
      if (value == null) return // expired or deleted since the scan
      const version = cachedVersion(value)
      if (version !== undefined) cached.set(key.slice(prefix.length), { key, raw: value, version })
    })
    if (cached.size === 0) return { compared: 0, missingInDb: 0, stale: [] }
    const ids = [...cached.keys()]
    const rows = await this.repo.run<VersionRow[]>('audit', `SELECT id, version, updated_at FROM orders WHERE id IN (${ids.map(() => '?').join(', ')})`, ids)
    const now = Date.now()
    const inDb = new Map(rows.map((r) => [String(r.id), r]))
    const behind = ids.filter((id) => {
      const row = inDb.get(id)
      const c = cached.get(id)!
      return row !== undefined && (c.version === null || c.version < row.version)
    })
    let missingInDb = 0
    for (const id of ids) if (!inDb.has(id) && cached.get(id)!.version !== null) missingInDb++
    if (behind.length === 0) return { compared: cached.size, missingInDb, stale: [] }
    // Confirm: still the same bytes after the MySQL read, so stale at the moment MySQL was read.
    const again = await this.cacheRead(() => this.redis.mget(behind.map((id) => cached.get(id)!.key)))
    const stale = behind
      .filter((id, i) => again[i] === cached.get(id)!.raw)
      .map((id) => {
        const row = inDb.get(id)!
        return { id, cachedVersion: cached.get(id)!.version, dbVersion: row.version, ageMs: Math.max(0, now - row.updated_at.getTime()) }
      })
    return { compared: cached.size, missingInDb, stale }
  }

  private async cacheRead<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read()
    } catch (err) {
      throw new CacheUnavailable(`the auditor could not read the cache (${(err as Error).message})`)
    }
  }
}

/** The version a cached value holds: a number, null for the "not found" sentinel, undefined if unreadable. */
function cachedVersion(raw: string): number | null | undefined {
  try {
    const entry = decodeEntry(raw)
    if (entry.kind === 'absent') return null
    const version = (JSON.parse(entry.json) as { version?: unknown }).version
    return typeof version === 'number' ? version : undefined
  } catch {
    return undefined
  }
}
