import type { Family } from './families.js'
import type { ModeDefinition } from './types.js'
import avalancheFixedTtl from './avalanche/fixed-ttl.js'
import avalancheJitter from './avalanche/jitter.js'
import avalancheProtected from './avalanche/protected.js'
import breakdownEarlyRefresh from './breakdown/early-refresh.js'
import breakdownLogicalExpiry from './breakdown/logical-expiry.js'
import breakdownMutex from './breakdown/mutex.js'
import breakdownNone from './breakdown/none.js'
import breakdownSingleFlight from './breakdown/single-flight.js'
import consistencyDelayedDoubleDelete from './consistency/delayed-double-delete.js'
import consistencyDeleteThenUpdate from './consistency/delete-then-update.js'
import consistencyUpdateThenDelete from './consistency/update-then-delete.js'
import consistencyUpdateThenSet from './consistency/update-then-set.js'
import consistencyVersioned from './consistency/versioned.js'
import penetrationBloom from './penetration/bloom.js'
import penetrationBloomNullCache from './penetration/bloom-null-cache.js'
import penetrationNone from './penetration/none.js'
import penetrationNullCache from './penetration/null-cache.js'
import writesQueue from './writes/queue.js'
import writesSync from './writes/sync.js'

// Adding a mode: a file under strategies/<family>/ and one line here. The first mode listed for a
// family is its baseline (the default).
export const MODES = {
  penetration: [penetrationNone, penetrationNullCache, penetrationBloom, penetrationBloomNullCache],
  breakdown: [breakdownNone, breakdownSingleFlight, breakdownMutex, breakdownLogicalExpiry, breakdownEarlyRefresh],
  avalanche: [avalancheFixedTtl, avalancheJitter, avalancheProtected],
  consistency: [consistencyUpdateThenDelete, consistencyUpdateThenSet, consistencyDeleteThenUpdate, consistencyDelayedDoubleDelete, consistencyVersioned],
  writes: [writesSync, writesQueue],
} satisfies { [F in Family]: ModeDefinition<F>[] }

export function findMode<F extends Family>(family: F, name: string): ModeDefinition<F> | undefined {
  return (MODES[family] as unknown as ModeDefinition<F>[]).find((m) => m.name === name)
}

export function modeNames(family: Family): string[] {
  return MODES[family].map((m) => m.name)
}
