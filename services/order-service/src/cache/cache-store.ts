import type { Redis } from 'ioredis'
import type { Metrics } from '../metrics.js'
import type { CacheKeys } from './keys.js'

/**
 * The order entries in Redis. Errors are counted and rethrown: the read path decides whether a
 * failed cache call means "fall back to MySQL".
 */
export class CacheStore {
  constructor(
    readonly redis: Redis,
    readonly keys: CacheKeys,
    private readonly metrics: Metrics,
  ) {}

  // Every cache hit comes through here: a .catch, not an async frame around an await.
  get(id: string): Promise<string | null> {
    return this.redis.get(this.keys.order(id)).catch(this.countGetError)
  }

  private readonly countGetError = (err: unknown): never => {
    this.metrics.redisErrors.inc({ operation: 'get' })
    throw err
  }

  /** Writes an entry; ttlSeconds null = no expiry (logical-expiry entries carry their own). */
  async set(id: string, value: string, ttlSeconds: number | null): Promise<void> {
    try {
      if (ttlSeconds === null) await this.redis.set(this.keys.order(id), value)
      else await this.redis.set(this.keys.order(id), value, 'EX', ttlSeconds)
    } catch (err) {
      this.metrics.redisErrors.inc({ operation: 'set' })
      throw err
    }
  }

  async del(id: string, reason: string): Promise<void> {
    try {
      await this.redis.del(this.keys.order(id))
      this.metrics.cacheInvalidations.inc({ reason })
    } catch (err) {
      this.metrics.redisErrors.inc({ operation: 'del' })
      throw err
    }
  }
}
