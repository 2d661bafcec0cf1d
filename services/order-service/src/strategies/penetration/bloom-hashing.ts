import bloomFilters from 'bloom-filters'
import xxhash from 'xxhash-wasm'

const { BloomFilter, Hashing } = bloomFilters
export type Filter = InstanceType<typeof BloomFilter>
type HashableInput = Parameters<InstanceType<typeof Hashing>['serialize']>[0]

// Compiled once, at import (a few kB of WebAssembly).
const { h32, h32Raw } = await xxhash()

/**
 * bloom-filters' own hashing is xxhashjs's h64, 64-bit arithmetic emulated in JavaScript: ~7 µs a
 * hash, two per lookup, so ~15 µs on every read the filter checks (more than the rest of a cache
 * hit's own JavaScript). This one is xxHash32 in WebAssembly (xxhash-wasm): ~0.13 µs a hash.
 *
 * The library's extension point is `serialize` (README "Seeding and Hashing"): it derives the two
 * hashes of its enhanced double hashing from serialize(x, seed + 1) and serialize(x, seed + 2), so
 * they stay independent. 32 bits are enough: the indexes are taken modulo the filter's size in
 * bits, far below 2³² (100M orders at 0.01% is ~1.9·10⁹ bits, the largest the params allow).
 * The seed (bloom-filters' default is 0x1234567890) is taken modulo 2³², as WebAssembly does.
 */
export class XxHash32Hashing extends Hashing {
  override serialize(element: HashableInput, seed?: number): number {
    const s = (seed ?? 0) >>> 0
    if (typeof element === 'string') return h32(element, s)
    return h32Raw(element instanceof Uint8Array ? element : new Uint8Array(element), s)
  }
}

/** Stateless: one instance shared by every filter. */
const HASHING = new XxHash32Hashing()

/** A filter sized by bloom-filters' formulas (see bloom-index.ts), hashing with xxHash32. */
export function createFilter(capacity: number, fpRate: number): Filter {
  const filter = BloomFilter.create(capacity, fpRate)
  filter._hashing = HASHING
  return filter
}

/**
 * The inverse of `filter.saveAsJSON()`. The hashing is not part of the library's JSON (its
 * fromJSON always gives the default xxhashjs one, whose answers differ): a filter built here must be
 * imported here, or it would answer "absent" for ids it holds.
 */
export function filterFromJSON(json: ReturnType<Filter['saveAsJSON']>): Filter {
  const filter = BloomFilter.fromJSON(json)
  filter._hashing = HASHING
  return filter
}
