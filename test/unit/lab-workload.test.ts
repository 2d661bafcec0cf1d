import { describe, expect, it } from 'vitest'
import { MISSING_ID_MAX, MISSING_ID_MIN, createKeyPicker, createRng, createWorkload } from '../../scenarios/lib/workload.js'

const sequence = (seed: number, n: number) => {
  const w = createWorkload({ mix: [{ kind: 'read', weight: 3, keys: { distribution: 'zipf', exponent: 1.1 } }, { kind: 'update', weight: 1, keys: { distribution: 'uniform' } }, { kind: 'create', weight: 1 }] }, { seed, seededOrders: 1000 })
  return Array.from({ length: n }, () => w.next())
}

describe('lab workload generator (scenarios/lib/workload.js)', () => {
  it('replays the same requests for the same seed, and others for another seed', () => {
    expect(sequence(7, 500)).toEqual(sequence(7, 500))
    expect(sequence(8, 500)).not.toEqual(sequence(7, 500))
  })

  it('draws the mix in proportion to the weights', () => {
    const reqs = sequence(1, 20_000)
    const share = (k: string) => reqs.filter((r) => r.kind === k).length / reqs.length
    expect(share('read')).toBeCloseTo(3 / 5, 1)
    expect(share('update')).toBeCloseTo(1 / 5, 1)
    expect(share('create')).toBeCloseTo(1 / 5, 1)
    const create = reqs.find((r) => r.kind === 'create')!
    expect(create).toMatchObject({ method: 'POST', path: '/orders' })
    expect(Object.keys(JSON.parse(create.body!))).toEqual(['userId', 'item', 'quantity', 'amountCents'])
  })

  it('draws Zipf ranks with frequencies 1/r^s (rank 1 = the first id)', () => {
    const n = 1000
    const s = 1.1
    const pick = createKeyPicker({ distribution: 'zipf', exponent: s }, createRng(3), { seededOrders: n })
    const draws = 100_000
    const counts = new Map<string, number>()
    for (let i = 0; i < draws; i++) {
      const id = pick()
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    let h = 0
    for (let r = 1; r <= n; r++) h += 1 / r ** s
    for (const rank of [1, 2, 10]) {
      const expected = 1 / rank ** s / h
      expect((counts.get(String(rank)) ?? 0) / draws).toBeCloseTo(expected, 2)
    }
    expect(Math.max(...[...counts.keys()].map(Number))).toBeLessThanOrEqual(n)
  })

  it('draws missing ids outside the seeded range and below the service\'s own ids; "repeated" reuses a small set', () => {
    const rng = createRng(5)
    const random = createKeyPicker({ distribution: 'missing', variant: 'random' }, rng, { seededOrders: 1000 })
    const repeated = createKeyPicker({ distribution: 'missing', variant: 'repeated', count: 4 }, rng, { seededOrders: 1000 })
    const r = Array.from({ length: 2000 }, random).map(Number)
    expect(Math.min(...r)).toBeGreaterThanOrEqual(MISSING_ID_MIN)
    expect(Math.max(...r)).toBeLessThanOrEqual(MISSING_ID_MAX)
    expect(MISSING_ID_MAX).toBeLessThan(2 ** 58) // snowflake ids start near 2^58
    expect(new Set(r).size).toBeGreaterThan(1990)
    expect(new Set(Array.from({ length: 2000 }, repeated)).size).toBe(4)
  })

  it('carries a mix entry\'s routing (replica, readBack) without changing what is drawn', () => {
    const mix = [
      { kind: 'read' as const, weight: 3, keys: { distribution: 'uniform' as const } },
      { kind: 'create' as const, weight: 1 },
    ]
    const plain = createWorkload({ mix }, { seed: 4, seededOrders: 100 })
    const routed = createWorkload({ mix: [{ ...mix[0]!, replica: 1 }, { ...mix[1]!, tag: 'made', replica: 1, readBack: { replica: 0 } }] }, { seed: 4, seededOrders: 100 })
    for (let i = 0; i < 200; i++) {
      const a = plain.next()
      const b = routed.next()
      expect({ ...b, tag: a.tag, replica: undefined, readBack: undefined }).toEqual({ ...a, replica: undefined, readBack: undefined })
      expect(b.replica).toBe(1)
      if (b.kind === 'create') expect(b).toMatchObject({ tag: 'made', readBack: { replica: 0, tag: 'read-back' } })
      else expect(b.readBack).toBeUndefined()
    }
  })

  it('uniform and hot keys stay in their ranges', () => {
    const rng = createRng(9)
    const uni = createKeyPicker({ distribution: 'uniform', min: 10, max: 20 }, rng, { seededOrders: 1000 })
    const hot = createKeyPicker({ distribution: 'hot', ids: ['42', '43'] }, rng, { seededOrders: 1000 })
    const u = Array.from({ length: 2000 }, uni).map(Number)
    expect(Math.min(...u)).toBe(10)
    expect(Math.max(...u)).toBe(20)
    expect(new Set(Array.from({ length: 100 }, hot))).toEqual(new Set(['42', '43']))
  })
})
