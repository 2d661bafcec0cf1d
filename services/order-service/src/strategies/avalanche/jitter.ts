import { defineMode } from '../types.js'
import { avalancheMetrics } from './protection.js'
import { drawTtl, jitterRange } from './ttl.js'

export default defineMode({
  family: 'avalanche',
  name: 'jitter',
  description:
    'Every fill gets a TTL drawn uniformly from ttlSeconds ± jitterFraction (whole seconds, never below minTtlSeconds): keys warmed or filled together expire spread over that interval instead of at one instant. No database protection (see protected).',
  uses: ['ttlSeconds', 'jitterFraction', 'minTtlSeconds'],
  create: (ctx, params) => {
    avalancheMetrics(ctx.metrics)
    const range = jitterRange(params)
    return {
      ttlSeconds: () => drawTtl(range),
      protect: (load) => load(),
    }
  },
})
