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
    const bar = raw.indexOf('|')
    if (bar > 1) {
      const colon = raw.lastIndexOf(':', bar)
      if (colon < 0) return { kind: 'order', json: raw.slice(bar + 1), logicalExpiresAt: Number(raw.slice(1, bar)) }
      return { kind: 'order', json: raw.slice(bar + 1), logicalExpiresAt: Number(raw.slice(1, colon)), recomputeMs: Number(raw.slice(colon + 1, bar)) }
    }
  }
  throw new Error(`unrecognised cache entry (${raw.slice(0, 16)}...)`)
}

export function encodeLogical(json: string, expiresAtMs: number, recomputeMs?: number): string {
  return recomputeMs === undefined ? `@${expiresAtMs}|${json}` : `@${expiresAtMs}:${recomputeMs}|${json}`
}
