import { SingleFlight } from '../../cache/single-flight.js'
import { defineMode } from '../types.js'
import { LockedLoader } from './locked-load.js'
import { BreakdownMetrics } from './metrics.js'

export default defineMode({
  family: 'breakdown',
  name: 'mutex',
  description:
    'One loader per key across all replicas: single-flight in process, then a Redis lock (SET NX PX, unique token, owner-only release). The owner re-checks the cache before loading; the others back off re-reading the cache until lockWaitMs, then follow lockFallback.',
  uses: ['lockTtlMs', 'lockWaitMs', 'lockBackoffMs', 'lockFallback'],
  create: (ctx, params) => {
    const m = new BreakdownMetrics(ctx.metrics)
    const loader = new LockedLoader(ctx, params, m)
    const flights = new SingleFlight<string | null>(() => m.coalesced.inc())
    return { onMiss: (id, loadAndFill) => flights.run(id, () => loader.load(id, loadAndFill)) }
  },
})
