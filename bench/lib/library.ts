import { BentoCache, bentostore } from 'bentocache'
import { redisDriver } from 'bentocache/drivers/redis'
import { Redis } from 'ioredis'
import { buildApp } from '../../services/order-service/src/app.js'
import { loadConfig } from '../../services/order-service/src/config.js'
import type { FastifyInstance } from 'fastify'

/**
 * Our read-through cache used as a library: the app's parts (OrderService.get with its strategy
 * registry, cache store, repository and metrics) built in this process, never listening on HTTP.
 */
export async function buildOurs(opts: { redisUrl: string; mysqlUrl: string; prefix: string; adminToken: string; redisCommandTimeoutMs?: number }): Promise<FastifyInstance> {
  const config = loadConfig({ REDIS_URL: opts.redisUrl, MYSQL_URL: opts.mysqlUrl, KEY_PREFIX: opts.prefix, ADMIN_TOKEN: opts.adminToken, LOG_LEVEL: 'silent', MIGRATE_ON_START: false, PORT: 0, REDIS_COMMAND_TIMEOUT_MS: opts.redisCommandTimeoutMs }, {})
  return buildApp(config, { logger: false })
}

export interface Bento {
  cache: BentoCache<{ redis: ReturnType<typeof bentostore> }>
  redis: Redis
  /** Redis key pattern of every entry this cache wrote. */
  pattern: string
  close(): Promise<void>
}

/**
 * The peer: bentocache with its Redis tier only (no memory tier, no bus), its stampede protection
 * (a per-process lock) on, and a TTL equal to our default (300 s). Its own ioredis client, with
 * default options, on the same Redis server.
 */
export function buildBento(opts: { redisUrl: string; prefix: string }): Bento {
  const redis = new Redis(opts.redisUrl)
  const cache = new BentoCache({
    default: 'redis',
    prefix: opts.prefix,
    ttl: '300s',
    stores: { redis: bentostore().useL2Layer(redisDriver({ connection: redis })) },
  })
  return {
    cache,
    redis,
    pattern: `${opts.prefix}*`,
    async close() {
      await cache.disconnectAll()
      redis.disconnect()
    },
  }
}

/** The order's JSON from MySQL through our repository (the same query and pool for both caches). */
export function loaderFor(app: FastifyInstance): (id: string) => Promise<string> {
  return async (id) => {
    const order = await app.repo.findById(id)
    if (!order) throw new Error(`order ${id} is not in the database`)
    return JSON.stringify(order)
  }
}
