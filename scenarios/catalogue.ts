import avalanche from './effects/avalanche.js'
import breakdown from './effects/breakdown.js'
import consistency from './effects/consistency.js'
import hotSet from './effects/hot-set.js'
import peakShaving from './effects/peak-shaving.js'
import penetration from './effects/penetration.js'
import type { ScenarioModule } from './runner/types.js'

// Adding a scenario: scenarios/definitions/<name>.json, scenarios/effects/<name>.ts and one line
// here. `npm run lab` and `npm run lab:ci` run them in this order.
export const SCENARIOS: ScenarioModule[] = [hotSet, penetration, breakdown, avalanche, consistency, peakShaving]

export function scenarioNames(): string[] {
  return SCENARIOS.map((s) => s.name)
}
