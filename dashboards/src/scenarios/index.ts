import type { Section } from '../grafana.js'
import { avalanche } from './avalanche.js'
import { breakdown } from './breakdown.js'
import { consistency } from './consistency.js'
import { penetration } from './penetration.js'
import { writeQueue } from './write-queue.js'

// One section per scenario's effect (a file each here), shown on the overview below the service
// panels, collapsed until opened. Adding one: the file exports a Section built with
// timeseries()/stat()/stateTimeline(), and one line in this list. Every query must return data in
// test/integration/dashboards-prometheus.test.ts: give it a traffic phase there.
export const SCENARIO_SECTIONS: Section[] = [penetration, breakdown, avalanche, consistency, writeQueue]
