import bloomFilters from 'bloom-filters'
import { parseArgs } from 'node:util'
import { createFilter, type Filter } from '../services/order-service/src/strategies/penetration/bloom-hashing.js'

// Micro-benchmark of one Bloom lookup (what penetration=bloom adds to every read): bloom-filters'
// default hashing (xxhashjs h64) against ours (xxHash32 in WebAssembly), same sizing, same ids;
// also the false-positive rate each gives at capacity.
//   npx tsx bench/bloom-hash.ts [--capacity 1000000] [--fp-rate 0.01] [--items 21000]

const { values } = parseArgs({ options: { capacity: { type: 'string', default: '1000000' }, 'fp-rate': { type: 'string', default: '0.01' }, items: { type: 'string', default: '21000' } } })
const capacity = Number(values.capacity)
const fpRate = Number(values['fp-rate'])
const items = Number(values.items)
const ids = Array.from({ length: 1000 }, (_, i) => String(i + 1))

function nsPerLookup(f: Filter, n: number): number {
  for (let i = 0; i < n / 10; i++) f.has(ids[i % 1000]!)
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) f.has(ids[i % 1000]!)
  return Number(process.hrtime.bigint() - t) / n
}

function fpAtCapacity(make: () => Filter): number {
  const f = make()
  const n = Math.min(capacity, 100_000)
  // Sized for n: the rate at capacity is the one the target promises.
  for (let i = 1; i <= n; i++) f.add(String(i))
  let fps = 0
  for (let i = n + 1; i <= n + 100_000; i++) if (f.has(String(i))) fps++
  return fps / 100_000
}

const contenders: [string, (c: number) => Filter][] = [
  ['bloom-filters default (xxhashjs h64)', (c) => bloomFilters.BloomFilter.create(c, fpRate)],
  ['ours (xxhash-wasm h32)', (c) => createFilter(c, fpRate)],
]
console.log(`capacity ${capacity}, target fp ${fpRate}, ${items} ids added; lookups of present ids`)
for (const [name, make] of contenders) {
  const f = make(capacity)
  for (let i = 1; i <= items; i++) f.add(String(i))
  const ns = Math.min(nsPerLookup(f, 20_000), nsPerLookup(f, 20_000), nsPerLookup(f, 20_000))
  const fp = fpAtCapacity(() => make(Math.min(capacity, 100_000)))
  console.log(`${name.padEnd(38)} ${(ns / 1000).toFixed(2).padStart(7)} µs/lookup   fp at capacity ${fp.toFixed(4)}`)
}
