import bloomFilters from 'bloom-filters'
import { describe, expect, it } from 'vitest'
import { createFilter, filterFromJSON } from '../../services/order-service/src/strategies/penetration/bloom-hashing.js'
import { optimalBits, optimalHashes } from '../../services/order-service/src/strategies/penetration/bloom-index.js'
import { sentinelTtlSeconds } from '../../services/order-service/src/strategies/penetration/creation-journal.js'

const { BloomFilter } = bloomFilters

describe('Bloom filter sizing', () => {
  it('bits and hashes follow m = ⌈−n ln p / (ln 2)²⌉ and k = ⌈(m/n) ln 2⌉, as the library builds them', () => {
    for (const [n, p] of [[1000, 0.01], [1_000_000, 0.01], [100_000, 0.001], [5000, 0.1], [1000, 0.0001]] as const) {
      const m = optimalBits(n, p)
      const k = optimalHashes(m, n)
      // Independent of our helpers: about 9.585 bits per item and 7 hashes at 1%.
      expect(m).toBe(Math.ceil((n * -Math.log(p)) / (Math.log(2) * Math.log(2))))
      const f = BloomFilter.create(n, p)
      expect(f.size).toBe(m)
      expect(f._nbHashes).toBe(k)
    }
    expect(optimalBits(1_000_000, 0.01)).toBe(9_585_059)
    expect(optimalHashes(9_585_059, 1_000_000)).toBe(7)
  })
})

describe('Bloom filter hashing (xxHash32, bloom-hashing.ts)', () => {
  it('keeps the library sizing, has no false negatives, and a false-positive rate at capacity within 2× of the target', () => {
    for (const [n, p] of [[100_000, 0.01], [20_000, 0.001]] as const) {
      const f = createFilter(n, p)
      expect(f.size).toBe(optimalBits(n, p))
      expect(f._nbHashes).toBe(optimalHashes(optimalBits(n, p), n))
      // Order ids as the service makes them (decimal strings), filled to capacity.
      for (let i = 1; i <= n; i++) f.add(String(i))
      for (let i = 1; i <= n; i++) if (!f.has(String(i))) throw new Error(`false negative for ${i}`)
      let fps = 0
      const probes = 200_000
      for (let i = n + 1; i <= n + probes; i++) if (f.has(String(i))) fps++
      expect(fps / probes).toBeGreaterThan(p / 2)
      expect(fps / probes).toBeLessThan(2 * p)
    }
  })

  it('survives saveAsJSON / filterFromJSON with the same answers', () => {
    const f = createFilter(5000, 0.01)
    for (let i = 1; i <= 5000; i++) f.add(`id-${i}`)
    const g = filterFromJSON(JSON.parse(JSON.stringify(f.saveAsJSON())))
    expect(g.size).toBe(f.size)
    for (let i = 1; i <= 10_000; i++) expect(g.has(`id-${i}`)).toBe(f.has(`id-${i}`))
  })
})

describe('sentinel TTL', () => {
  it('is a whole number of seconds, at least 1, whatever it is given', () => {
    expect(sentinelTtlSeconds(30)).toBe(30)
    expect(sentinelTtlSeconds(1)).toBe(1)
    expect(sentinelTtlSeconds(0.4)).toBe(1)
    expect(sentinelTtlSeconds(0)).toBe(1)
    expect(sentinelTtlSeconds(-5)).toBe(1)
    expect(sentinelTtlSeconds(Number.NaN)).toBe(1)
    expect(sentinelTtlSeconds(2.9)).toBe(2)
  })
})
