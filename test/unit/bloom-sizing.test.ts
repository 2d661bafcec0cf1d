import bloomFilters from 'bloom-filters'
import { describe, expect, it } from 'vitest'
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
