// The workload of a scenario definition as a request generator: seeded, deterministic, and plain
// JavaScript with no imports, so the Node runner and the k6 scripts (which cannot load TypeScript)
// replay exactly the same requests from the same definition and seed.

/** Ids drawn for "missing" keys: far above any seeded id (1..N) and far below the service's
 * snowflake ids (which start near 2^58), so they exist neither in the cache nor in MySQL. */
export const MISSING_ID_MIN = 1000000000000
export const MISSING_ID_MAX = 999999999999999

const ITEMS = ['keyboard', 'mouse', 'monitor', 'laptop', 'headset', 'webcam', 'dock', 'cable', 'chair', 'desk lamp']

/**
 * A small seeded PRNG (sfc32 seeded through splitmix32): fast, good enough for workloads, and the
 * same sequence in every JavaScript engine.
 * @param {number} seed
 */
export function createRng(seed) {
  let s = seed >>> 0
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = split(), b = split(), c = split(), d = split()
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 12; i++) u32()
  return {
    u32,
    /** uniform in [0, 1) */
    next: () => u32() / 4294967296,
    /** uniform integer in [min, max] (inclusive; exact up to 2^53) */
    int(min, max) {
      const span = max - min + 1
      if (span <= 4294967296) return min + Math.floor((u32() / 4294967296) * span)
      const r = (u32() * 2097152 + (u32() >>> 11)) / 9007199254740992 // 53 random bits
      return min + Math.floor(r * span)
    },
  }
}

/**
 * A key picker: returns an order id (a decimal string) per call.
 * @param {object} spec a KeySpec of the definition schema
 * @param {{ next(): number, int(min: number, max: number): number }} rng
 * @param {{ seededOrders: number }} ctx
 * @returns {() => string}
 */
export function createKeyPicker(spec, rng, ctx) {
  switch (spec.distribution) {
    case 'uniform': {
      const min = spec.min ?? 1
      const max = spec.max ?? ctx.seededOrders
      return () => String(rng.int(min, max))
    }
    case 'zipf': {
      // Rank r (1 = hottest) has weight 1/r^s; rank r is order min + r - 1. Inverse CDF by binary search.
      const min = spec.min ?? 1
      const max = spec.max ?? ctx.seededOrders
      const n = max - min + 1
      const cdf = new Float64Array(n)
      let sum = 0
      for (let r = 1; r <= n; r++) {
        sum += 1 / Math.pow(r, spec.exponent)
        cdf[r - 1] = sum
      }
      return () => {
        const u = rng.next() * sum
        let lo = 0
        let hi = n - 1
        while (lo < hi) {
          const mid = (lo + hi) >>> 1
          if (cdf[mid] < u) lo = mid + 1
          else hi = mid
        }
        return String(min + lo)
      }
    }
    case 'hot': {
      const ids = spec.ids
      return () => ids[ids.length === 1 ? 0 : rng.int(0, ids.length - 1)]
    }
    case 'missing': {
      if (spec.variant === 'random') return () => String(rng.int(MISSING_ID_MIN, MISSING_ID_MAX))
      // A small set of absent ids, repeated (what a null cache handles well).
      const ids = []
      for (let i = 0; i < (spec.count ?? 10); i++) ids.push(String(rng.int(MISSING_ID_MIN, MISSING_ID_MAX)))
      return () => ids[rng.int(0, ids.length - 1)]
    }
    default:
      throw new Error(`unknown key distribution ${JSON.stringify(spec.distribution)}`)
  }
}

/**
 * The request generator of a workload: each call to next() returns the next request of the
 * sequence. Same definition + seed = same sequence.
 * @param {{ mix: Array<{ kind: 'read'|'update'|'create', weight: number, keys?: object, tag?: string, replica?: number, readBack?: { replica?: number, tag?: string } }> }} workload
 * @param {{ seed: number, seededOrders: number }} opts
 */
export function createWorkload(workload, opts) {
  const rng = createRng(opts.seed)
  const total = workload.mix.reduce((s, m) => s + m.weight, 0)
  let acc = 0
  const entries = workload.mix.map((m) => {
    acc += m.weight / total
    return {
      kind: m.kind,
      tag: m.tag ?? m.kind,
      upTo: acc,
      pick: m.keys ? createKeyPicker(m.keys, rng, opts) : undefined,
      // Routing, not content: the same seed draws the same requests whatever the replicas.
      routing: {
        ...(m.replica !== undefined ? { replica: m.replica } : {}),
        ...(m.readBack ? { readBack: { ...(m.readBack.replica !== undefined ? { replica: m.readBack.replica } : {}), tag: m.readBack.tag ?? 'read-back' } } : {}),
      },
    }
  })
  entries[entries.length - 1].upTo = 1
  return {
    /** @returns {{ kind: string, tag: string, method: string, path: string, id?: string, body?: string, replica?: number, readBack?: { replica?: number, tag: string } }} */
    next() {
      const u = entries.length === 1 ? 0 : rng.next()
      const e = entries.find((x) => u < x.upTo) ?? entries[entries.length - 1]
      if (e.kind === 'read') {
        const id = e.pick()
        return { kind: 'read', tag: e.tag, method: 'GET', path: `/orders/${id}`, id, ...e.routing }
      }
      if (e.kind === 'update') {
        const id = e.pick()
        return { kind: 'update', tag: e.tag, method: 'PUT', path: `/orders/${id}`, id, body: JSON.stringify({ quantity: rng.int(1, 9) }), ...e.routing }
      }
      const body = { userId: rng.int(1, 10000), item: ITEMS[rng.int(0, ITEMS.length - 1)], quantity: rng.int(1, 5), amountCents: rng.int(500, 200500) }
      return { kind: 'create', tag: e.tag, method: 'POST', path: '/orders', body: JSON.stringify(body), ...e.routing }
    },
  }
}
