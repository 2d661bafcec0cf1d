// Cached values are strings whose first character says what they are, so a hit is served without
// parsing: the order JSON stored is byte for byte the response body.
//   {...}                 an order (its JSON)
//   !                     "not found" sentinel (null caching)
//   @<expiresAtMs>|{...}  an order with a logical expiry (never-expire mode)
//   @<expiresAtMs>:<recomputeMs>|{...}   the same, plus how long its load took (early refresh)

export const ABSENT_SENTINEL = '!'

export type CacheEntry =
  | { kind: 'order'; json: string; logicalExpiresAt: number | undefined; recomputeMs?: number }
  | { kind: 'absent' }

const ABSENT: CacheEntry = { kind: 'absent' }

export function decodeEntry(raw: string): CacheEntry {
  const first = raw.charCodeAt(0)
  if (first === 0x7b /* { */) return { kind: 'order', json: raw, logicalExpiresAt: undefined }
  if (raw === ABSENT_SENTINEL) return ABSENT
  if (first === 0x40 /* @ */) {
    // Read on every hit under logical-expiry / early-refresh: the numbers are read digit by digit
    // in place (no substring, no Number()), and the body is one slice, which V8 makes a view of
    // the Redis reply, not a copy.
    let i = 1
    let expiresAt = 0
    let c = raw.charCodeAt(i)
    for (; c >= 0x30 && c <= 0x39; c = raw.charCodeAt(++i)) expiresAt = expiresAt * 10 + (c - 0x30)
    if (i > 1) {
      if (c === 0x7c /* | */) return { kind: 'order', json: raw.slice(i + 1), logicalExpiresAt: expiresAt }
      if (c === 0x3a /* : */) {
        const from = ++i
        let recomputeMs = 0
        for (c = raw.charCodeAt(i); c >= 0x30 && c <= 0x39; c = raw.charCodeAt(++i)) recomputeMs = recomputeMs * 10 + (c - 0x30)
        if (i > from && c === 0x7c) return { kind: 'order', json: raw.slice(i + 1), logicalExpiresAt: expiresAt, recomputeMs }
      }
    }
  }
  throw new Error(`unrecognised cache entry (${raw.slice(0, 16)}...)`)
}

export function encodeLogical(json: string, expiresAtMs: number, recomputeMs?: number): string {
  return recomputeMs === undefined ? `@${expiresAtMs}|${json}` : `@${expiresAtMs}:${recomputeMs}|${json}`
}
