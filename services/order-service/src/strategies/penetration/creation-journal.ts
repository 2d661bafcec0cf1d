import type { Redis } from 'ioredis'
import { ABSENT_SENTINEL } from '../../cache/codec.js'
import type { CacheKeys } from '../../cache/keys.js'
import { CacheUnavailable } from '../../errors.js'
import type { Metrics } from '../../metrics.js'
import type { StrategyContext } from '../types.js'

// The creation journal: a Redis stream of every order id accepted by any replica, written BEFORE
// the order is inserted or enqueued. It is how a replica's in-memory Bloom filter learns about
// orders created elsewhere, and how a rebuild finds orders that have not reached MySQL yet.
// Writing it also clears a cached "not found" sentinel for the id and fences the id for a while, so
// that a reader that saw MySQL miss before the insert cannot put the sentinel back (null caching).

/** Journal entries older than this are trimmed; a rebuild reads MySQL plus what is left. */
export const JOURNAL_RETENTION_SECONDS = 3600
/** How long after a creation a sentinel fill for that id is refused (see fillSentinel). */
export const CREATION_FENCE_SECONDS = 60
const PAGE = 1000

export function journalKey(keys: CacheKeys): string {
  return keys.named('penetration:created')
}

export function fenceKey(keys: CacheKeys, id: string): string {
  return keys.named(`penetration:fence:${id}`)
}

/** An ioredis script command, defined on first use on each client (EVALSHA, EVAL on NOSCRIPT). */
function luaCommand<R>(name: string, numberOfKeys: number, lua: string) {
  return (redis: Redis, ...args: (string | number)[]): Promise<R> => {
    const r = redis as unknown as Record<string, (...a: (string | number)[]) => Promise<R>>
    if (typeof r[name] !== 'function') redis.defineCommand(name, { numberOfKeys, lua })
    return r[name]!(...args)
  }
}

// One round trip, atomic: fence the id, clear a sentinel (only a sentinel: a cached order is left
// alone), append to the journal and trim it by age using Redis' own clock (stream ids are Redis time).
const recordCreationScript = luaCommand<[string, number]>(
  'cachelabRecordCreation',
  3,
  `
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
local cleared = 0
if redis.call('GET', KEYS[3]) == ARGV[4] then
  redis.call('DEL', KEYS[3])
  cleared = 1
end
local entry = redis.call('XADD', KEYS[1], 'MINID', '~', string.format('%d', nowMs - tonumber(ARGV[3])), '*', 'created', ARGV[1])
return {entry, cleared}
`,
)

// A sentinel is written only when the id was not created in the last CREATION_FENCE_SECONDS and
// nothing is cached under the key (NX: never overwrite an order another reader just cached).
const fillSentinelScript = luaCommand<number>(
  'cachelabFillSentinel',
  2,
  `
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 1 end
return 0
`,
)

function journalInstruments(metrics: Metrics) {
  return {
    writes: metrics.counter('cachelab_creation_journal_writes_total', 'Order creations recorded in the creation journal (before the insert), by result', ['result']),
    sentinelWrites: metrics.counter('cachelab_null_sentinel_writes_total', 'Attempts to cache a "not found" sentinel after a MySQL miss, by result (fenced = the id was just created; kept = an order is cached)', ['result']),
    sentinelsCleared: metrics.counter('cachelab_null_sentinels_cleared_total', 'Cached "not found" sentinels removed because an order with that id was created', []),
  }
}

/**
 * Records an accepted order id before it is written. With `required` (the defenses that rely on it:
 * null caching and the Bloom filter) a failure refuses the creation with a 503: accepting the order
 * unrecorded could leave a stale sentinel or a filter that hides it. Without (no defense active) the
 * failure is counted and the creation goes on; the order reaches MySQL before it is acknowledged in
 * sync mode, where a later Bloom build will scan it.
 */
export async function recordCreation(ctx: StrategyContext, id: string, opts: { required: boolean }): Promise<void> {
  const m = journalInstruments(ctx.metrics)
  try {
    const [, cleared] = await recordCreationScript(ctx.redis, journalKey(ctx.keys), fenceKey(ctx.keys, id), ctx.keys.order(id), id, CREATION_FENCE_SECONDS, JOURNAL_RETENTION_SECONDS * 1000, ABSENT_SENTINEL)
    m.writes.inc({ result: 'ok' })
    if (cleared === 1) m.sentinelsCleared.inc()
  } catch (err) {
    m.writes.inc({ result: 'error' })
    ctx.metrics.redisErrors.inc({ operation: 'journal' })
    if (opts.required) throw new CacheUnavailable(`cannot record the new order in the creation journal (${(err as Error).message}); nothing was written`)
    ctx.log.debug({ err }, 'creation journal write failed; no penetration defense depends on it right now')
  }
}

/**
 * Caches the "not found" sentinel for an id MySQL does not have. The TTL is the family's
 * nullTtlSeconds as is: never jittered, never rounded to 0 (an EX of 0 is refused by Redis, and a
 * missing EX would mean no expiry: the go-zero lesson). A failed fill is counted, not fatal.
 */
export async function fillSentinel(ctx: StrategyContext, id: string, nullTtlSeconds: number): Promise<void> {
  const m = journalInstruments(ctx.metrics)
  const ttl = sentinelTtlSeconds(nullTtlSeconds)
  try {
    const res = await fillSentinelScript(ctx.redis, ctx.keys.order(id), fenceKey(ctx.keys, id), ABSENT_SENTINEL, ttl)
    m.sentinelWrites.inc({ result: res === 1 ? 'stored' : res === -1 ? 'fenced' : 'kept' })
  } catch (err) {
    m.sentinelWrites.inc({ result: 'error' })
    ctx.metrics.redisErrors.inc({ operation: 'set' })
    ctx.log.debug({ err }, 'sentinel fill failed; the next read of this id queries MySQL again')
  }
}

/** The sentinel TTL: a whole number of seconds, at least 1, whatever it is given. */
export function sentinelTtlSeconds(nullTtlSeconds: number): number {
  return Number.isFinite(nullTtlSeconds) ? Math.max(1, Math.floor(nullTtlSeconds)) : 1
}

/** Asks every replica's Bloom filter to rebuild; `token` lets the requester skip its own request. */
export async function requestRebuild(redis: Redis, keys: CacheKeys, token: string): Promise<string> {
  return (await redis.xadd(journalKey(keys), '*', 'rebuild', token)) as string
}

export type JournalEvent = { kind: 'created'; id: string } | { kind: 'rebuild'; token: string }

function toEvent(fields: string[]): JournalEvent | undefined {
  if (fields[0] === 'created' && fields[1]) return { kind: 'created', id: fields[1] }
  if (fields[0] === 'rebuild') return { kind: 'rebuild', token: fields[1] ?? '' }
  return undefined
}

/** Reads every entry still in the journal, in pages (a rebuild: orders maybe not in MySQL yet). */
export async function readWholeJournal(redis: Redis, keys: CacheKeys, onEvent: (e: JournalEvent) => void): Promise<number> {
  const key = journalKey(keys)
  let from = '-'
  let n = 0
  for (;;) {
    const page = (await redis.xrange(key, from, '+', 'COUNT', PAGE)) as [string, string[]][]
    for (const [, fields] of page) {
      const e = toEvent(fields)
      if (e) onEvent(e)
    }
    n += page.length
    if (page.length < PAGE) return n
    from = `(${page[page.length - 1]![0]}`
  }
}

/** XINFO STREAM's flat [name, value, ...] reply (ioredis) as a lookup. */
function infoField(info: unknown, name: string): unknown {
  if (info instanceof Map) return info.get(name)
  if (Array.isArray(info)) {
    for (let i = 0; i + 1 < info.length; i += 2) if (info[i] === name) return info[i + 1]
    return undefined
  }
  return (info as Record<string, unknown> | null)?.[name]
}

/**
 * Follows the journal from a position. `sync()` resolves once a read that STARTED AFTER the call
 * has been applied: a replica about to answer "definitely absent" calls it, so an order whose
 * creation was acknowledged (journaled) before the read began cannot be missed. Concurrent callers
 * share one read in flight (one Redis round trip for all of them, in the usual case of one page).
 *
 * Gaps are detected, not assumed away: every read also takes XINFO's entries-added (in the same
 * MULTI, so both see the same stream); if the entries read since the last position do not add up,
 * entries were trimmed (or the stream deleted) before this replica saw them, and onGap is called.
 */
export class JournalFollower {
  private lastId = '0-0'
  private added = 0
  private current: Promise<void> | undefined
  private next: Promise<void> | undefined

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly onEvent: (e: JournalEvent) => void,
    private readonly onGap: () => void,
    /** Called once per catch-up (not per waiter), with its outcome. */
    private readonly onRead: (ok: boolean) => void = noop,
  ) {}

  /** Starts following from the journal's current end (entries before it are the builder's job). */
  async startAtEnd(): Promise<void> {
    const res = await this.redis.multi().xinfo('STREAM', this.key).exec()
    const [lastGenerated, entriesAdded] = this.parseInfo(res?.[0])
    this.lastId = lastGenerated
    this.added = entriesAdded
  }

  sync(): Promise<void> {
    if (this.next) return this.next
    if (!this.current) return this.start()
    // The read in flight may have been sent before this caller arrived: wait for the next one.
    this.next = this.current.then(noop, noop).then(() => {
      this.next = undefined
      return this.start()
    })
    return this.next
  }

  private start(): Promise<void> {
    const p: Promise<void> = this.catchUp()
      .then(
        () => this.onRead(true),
        (err: unknown) => {
          this.onRead(false)
          throw err
        },
      )
      .finally(() => {
        if (this.current === p) this.current = undefined
      })
    this.current = p
    return p
  }

  private async catchUp(): Promise<void> {
    let from = this.lastId
    let read = 0
    for (;;) {
      const res = await this.redis.multi().xinfo('STREAM', this.key).xrange(this.key, `(${from}`, '+', 'COUNT', PAGE).exec()
      const [lastGenerated, entriesAdded] = this.parseInfo(res?.[0])
      const [rangeErr, range] = res?.[1] ?? [new Error('journal read aborted'), null]
      if (rangeErr) throw rangeErr
      const entries = range as [string, string[]][]
      for (const [, fields] of entries) {
        const e = toEvent(fields)
        if (e) this.onEvent(e)
      }
      read += entries.length
      if (entries.length === PAGE) {
        from = entries[entries.length - 1]![0]
        continue
      }
      const gap = entriesAdded !== this.added + read
      this.lastId = lastGenerated
      this.added = entriesAdded
      if (gap) this.onGap()
      return
    }
  }

  /** [last-generated-id, entries-added]; a journal that does not exist yet is empty. */
  private parseInfo(reply: [Error | null, unknown] | undefined): [string, number] {
    if (!reply) throw new Error('journal read aborted')
    const [err, info] = reply
    if (err) {
      if (/no such key/i.test(err.message)) return ['0-0', 0]
      throw err
    }
    return [String(infoField(info, 'last-generated-id')), Number(infoField(info, 'entries-added'))]
  }
}

function noop(): void {}
