/** Median and spread of the per-round values of one figure. */
export interface Summary {
  median: number
  min: number
  max: number
  /** Every round's value, in the order measured. */
  values: number[]
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export function summarize(values: number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), values }
}

/** The i-th rotation of a list: contenders take turns at being measured first within a round. */
export function rotate<T>(list: readonly T[], i: number): T[] {
  const k = list.length === 0 ? 0 : i % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

/** A deterministic shuffle (mulberry32), so every run requests the same key mix. */
export function shuffled<T>(list: readonly T[], seed = 42): T[] {
  const out = [...list]
  let s = seed >>> 0
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
