import { SingleFlight } from '../../cache/single-flight.js'
import { defineMode } from '../types.js'
import { BreakdownMetrics } from './metrics.js'

export default defineMode({
  family: 'breakdown',
  name: 'single-flight',
  description:
    'Concurrent misses of one key in one process share one MySQL load. No coordination across replicas: each replica still loads once per expiry (the limit of per-process stampede protection).',
  uses: [],
  create: (ctx) => {
    const m = new BreakdownMetrics(ctx.metrics)
    const flights = new SingleFlight<string | null>(() => m.coalesced.inc())
    return { onMiss: (id, loadAndFill) => flights.run(id, () => m.rebuild('miss', loadAndFill)) }
  },
})
