import { defineMode } from '../types.js'
import { BreakdownMetrics } from './metrics.js'

export default defineMode({
  family: 'breakdown',
  name: 'none',
  description: 'No protection: every concurrent miss of a hot key loads it from MySQL (not even in-process dedupe).',
  uses: [],
  create: (ctx) => {
    const m = new BreakdownMetrics(ctx.metrics)
    return { onMiss: (_id, loadAndFill) => m.rebuild('miss', loadAndFill) }
  },
})
