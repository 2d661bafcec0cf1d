import type { Redis } from 'ioredis'
import type { Metrics } from '../metrics.js'

// Expires entries now, as their own clock would: a plain entry (or a not-found sentinel) is
// deleted, as its Redis TTL would; an entry carrying its own expiry (`@<expiresAt>[:<ms>]|{...}`)
// keeps its value and Redis TTL and gets an expiry of now, so logical-expiry serves it stale and
// rebuilds it, exactly as when its logical TTL runs out. One script per batch: atomic per entry,
// so a fill racing the action is never overwritten with an older value.
const EXPIRE_NOW = `
local deleted, marked = 0, 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v then
    local bar = string.find(v, '|', 1, true)
    if string.byte(v, 1) == 64 and bar then
      local header = string.sub(v, 2, bar - 1)
      local colon = string.find(header, ':', 1, true)
      local expiresAt = colon and string.sub(header, 1, colon - 1) or header
      local rest = colon and string.sub(header, colon) or ''
      if (tonumber(expiresAt) or 0) > tonumber(ARGV[1]) then
        redis.call('SET', key, '@' .. ARGV[1] .. rest .. string.sub(v, bar), 'KEEPTTL')
      end
      marked = marked + 1
    else
      redis.call('DEL', key)
      deleted = deleted + 1
    end
  end
end
return {deleted, marked}
`
const EXPIRE_COMMAND = 'cachelabExpireNow'

type ExpireCommand = { [EXPIRE_COMMAND]?: (numKeys: number, ...args: (string | number)[]) => Promise<[number, number]> }

export interface ExpiryResult {
  /** Entries deleted (plain entries and not-found sentinels). */
  deleted: number
  /** Entries that carry their own expiry, now expired (value kept). */
  logicallyExpired: number
}

/** Expires these keys now (see above); missing keys are skipped. */
export async function expireNow(redis: Redis, keys: string[], nowMs = Date.now()): Promise<ExpiryResult> {
  if (keys.length === 0) return { deleted: 0, logicallyExpired: 0 }
  const client = redis as unknown as ExpireCommand
  // No fixed key count: the keys of each call vary, so numberOfKeys is passed per call.
  if (typeof client[EXPIRE_COMMAND] !== 'function') redis.defineCommand(EXPIRE_COMMAND, { lua: EXPIRE_NOW })
  const [deleted, logicallyExpired] = await client[EXPIRE_COMMAND]!.call(redis, keys.length, ...keys, nowMs)
  return { deleted, logicallyExpired }
}

/** Escapes the glob characters of a literal for SCAN MATCH. */
export function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&')
}

/** Expires every key matching a pattern now, scanning with SCAN (never KEYS: it blocks Redis). */
export async function expireMatching(redis: Redis, pattern: string, nowMs = Date.now()): Promise<ExpiryResult & { scanned: number }> {
  const total = { scanned: 0, deleted: 0, logicallyExpired: 0 }
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    total.scanned += keys.length
    const r = await expireNow(redis, keys, nowMs)
    total.deleted += r.deleted
    total.logicallyExpired += r.logicallyExpired
  } while (cursor !== '0')
  return total
}

/** Counts entries expired by the expire-* chaos actions, so a scenario can line DB loads up with them. */
export function countExpired(metrics: Metrics, r: ExpiryResult): void {
  const c = metrics.counter('cachelab_chaos_expired_entries_total', 'Cache entries expired by a chaos action, by how (deleted, or logically expired)', ['how'])
  if (r.deleted > 0) c.inc({ how: 'deleted' }, r.deleted)
  if (r.logicallyExpired > 0) c.inc({ how: 'logical' }, r.logicallyExpired)
}
