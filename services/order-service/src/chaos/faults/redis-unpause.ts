import { Type } from 'typebox'
import { CacheUnavailable, InvalidChaos } from '../../errors.js'
import { defineChaos } from '../types.js'
import { forgetPause, knownPause } from './redis-pause.js'

export default defineChaos({
  kind: 'action',
  name: 'redis-unpause',
  description:
    'Ends a redis-pause early with CLIENT UNPAUSE, sent on a connection of its own. Works for a write pause; an all pause cannot be ended early (Redis 7 holds CLIENT UNPAUSE behind it like every other command), so this refuses when it knows one is running and answers 503 when Redis does not answer.',
  params: Type.Object({}, { additionalProperties: false }),
  run: async ({ redis, metrics }) => {
    const pause = knownPause(redis)
    if (pause?.mode === 'all') {
      throw new InvalidChaos(`an all pause cannot be ended early (Redis holds CLIENT UNPAUSE behind it); it ends by itself at ${new Date(pause.until).toISOString()}`)
    }
    // On its own connection: Redis runs a connection's commands in order, so on the service's
    // connection CLIENT UNPAUSE would wait behind any write the pause is holding.
    const admin = redis.duplicate({ lazyConnect: true, connectionName: 'cachelab-chaos-unpause', retryStrategy: () => null })
    admin.on('error', () => {})
    try {
      await admin.connect()
      await admin.client('UNPAUSE')
    } catch (err) {
      throw new CacheUnavailable(`CLIENT UNPAUSE got no answer (${(err as Error).message}); an all pause (perhaps from another replica) only ends by itself`)
    } finally {
      admin.disconnect()
    }
    forgetPause(redis, metrics)
    return { unpaused: true }
  },
})
