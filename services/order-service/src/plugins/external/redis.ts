import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { createRedis, createSubscriber, waitUntilReady } from '../../redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
    redisSubscriber: Redis
  }
}

/** The app's Redis clients: one for commands, one subscriber. Both closed with the app. */
export default fp(
  async (app) => {
    const c = app.config
    const opts = { url: c.REDIS_URL, commandTimeoutMs: c.REDIS_COMMAND_TIMEOUT_MS, connectTimeoutMs: c.REDIS_CONNECT_TIMEOUT_MS, maxPending: c.REDIS_MAX_PENDING, name: 'cachelab-order-service' }
    const redis = createRedis(opts)
    const subscriber = createSubscriber(opts)
    // Errors are reconnect noise while Redis is down; reads count their own failures.
    let lastLog = 0
    const onError = (err: Error) => {
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now()
        app.log.warn({ err: err.message }, 'redis connection error')
      }
    }
    redis.on('error', onError)
    subscriber.on('error', onError)
    app.decorate('redis', redis)
    app.decorate('redisSubscriber', subscriber)
    app.addHook('onClose', async () => {
      redis.disconnect()
      subscriber.disconnect()
    })
    if (!(await waitUntilReady(redis, c.REDIS_CONNECT_TIMEOUT_MS))) app.log.warn('redis is not reachable; starting degraded (reads go to MySQL)')
  },
  { name: 'redis', dependencies: ['config'] },
)
