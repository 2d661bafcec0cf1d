import { defineMode } from '../types.js'
import { avalancheMetrics } from './protection.js'

export default defineMode({
  family: 'avalanche',
  name: 'fixed-ttl',
  description: 'Every entry gets the same TTL: keys warmed together expire together. No database protection.',
  uses: ['ttlSeconds'],
  create: (ctx, params) => {
    avalancheMetrics(ctx.metrics)
    return {
      ttlSeconds: () => params.ttlSeconds,
      protect: (load) => load(),
    }
  },
})
