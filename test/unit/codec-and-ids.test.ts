import { describe, expect, it } from 'vitest'
import { ABSENT_SENTINEL, decodeEntry, encodeLogical } from '../../services/order-service/src/cache/codec.js'
import { IdGenerator } from '../../services/order-service/src/ids.js'
import { isOrderIdInRange } from '../../services/order-service/src/schemas/order.js'
import { seededOrder } from '../../services/order-service/src/db/seed.js'

describe('cache entry codec', () => {
  it('serves a plain entry as the stored JSON', () => {
    expect(decodeEntry('{"id":"1"}')).toEqual({ kind: 'order', json: '{"id":"1"}', logicalExpiresAt: undefined })
  })
  it('recognises the not-found sentinel', () => {
    expect(decodeEntry(ABSENT_SENTINEL)).toEqual({ kind: 'absent' })
  })
  it('round-trips a logical-expiry envelope', () => {
    expect(decodeEntry(encodeLogical('{"id":"2"}', 1234))).toEqual({ kind: 'order', json: '{"id":"2"}', logicalExpiresAt: 1234 })
  })
  it('round-trips an early-refresh envelope (expiry and recompute time)', () => {
    expect(decodeEntry(encodeLogical('{"id":"3"}', 1763750000123, 42))).toEqual({ kind: 'order', json: '{"id":"3"}', logicalExpiresAt: 1763750000123, recomputeMs: 42 })
    expect(decodeEntry(encodeLogical('{"a":"x|y:z"}', 7, 0))).toEqual({ kind: 'order', json: '{"a":"x|y:z"}', logicalExpiresAt: 7, recomputeMs: 0 })
  })
  it('refuses what it does not know instead of serving it', () => {
    for (const bad of ['garbage', '@|{}', '@12', '@12:|{}', '@12:5', '@x1|{}', '@12;{}', '@12:3x|{}']) {
      expect(() => decodeEntry(bad), bad).toThrow(/unrecognised cache entry/)
    }
  })
})

describe('id generator', () => {
  it('makes unique, increasing ids within range, across a millisecond overflow', () => {
    const gen = new IdGenerator(5)
    const ids = Array.from({ length: 20_000 }, () => gen.next())
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) expect(BigInt(ids[i]!) > BigInt(ids[i - 1]!)).toBe(true)
    expect(ids.every(isOrderIdInRange)).toBe(true)
  })
  it('keeps the node in the id, so two replicas never collide', () => {
    const a = new IdGenerator(1)
    const b = new IdGenerator(2)
    const fromA = new Set(Array.from({ length: 5000 }, () => a.next()))
    expect(Array.from({ length: 5000 }, () => b.next()).some((id) => fromA.has(id))).toBe(false)
  })
  it('refuses a node outside 10 bits', () => {
    expect(() => new IdGenerator(1024)).toThrow(/node id/)
  })
})

describe('seed data', () => {
  it('is a pure function of the id', () => {
    expect(seededOrder(42)).toEqual(seededOrder(42))
    expect(seededOrder(42)).not.toEqual(seededOrder(43))
    const [id, userId, item, quantity, amount] = seededOrder(7)
    expect(id).toBe(7)
    expect(userId).toBeGreaterThanOrEqual(1)
    expect(item.length).toBeGreaterThan(0)
    expect(quantity).toBeGreaterThanOrEqual(1)
    expect(amount).toBeGreaterThanOrEqual(500)
  })
})

describe('id range', () => {
  it('admits 2^63-1 and refuses 2^63', () => {
    expect(isOrderIdInRange('9223372036854775807')).toBe(true)
    expect(isOrderIdInRange('9223372036854775808')).toBe(false)
  })
})
