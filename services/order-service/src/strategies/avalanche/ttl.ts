import type { FamilyParams } from '../families.js'

type TtlParams = Pick<FamilyParams['avalanche'], 'ttlSeconds' | 'jitterFraction' | 'minTtlSeconds'>

/** The whole seconds a jittered TTL may take (Redis EX is whole seconds): lo..hi inclusive. */
export interface TtlRange {
  lo: number
  hi: number
}

// base × (1 ± fraction) in floating point may land a hair off an integer (300 × 0.8 = 240.00000000000003).
const EPSILON = 1e-9

/** base ± jitterFraction, raised to the floor. A range cut by the floor stays uniform over what is left. */
export function jitterRange(p: TtlParams): TtlRange {
  const spread = p.ttlSeconds * p.jitterFraction
  const lo = Math.max(p.minTtlSeconds, Math.ceil(p.ttlSeconds - spread - EPSILON))
  const hi = Math.max(lo, Math.floor(p.ttlSeconds + spread + EPSILON))
  return { lo, hi }
}

/**
 * One TTL drawn uniformly from the range. Draws below the floor are not clamped to it: a spike of
 * keys at the floor would expire together, which is what jitter is there to prevent.
 */
export function drawTtl(range: TtlRange, random: () => number = Math.random): number {
  return range.lo + Math.floor(random() * (range.hi - range.lo + 1))
}
