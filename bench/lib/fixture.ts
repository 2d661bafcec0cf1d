import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { scanDelete } from '../../services/order-service/src/cache/scan.js'
import { ensureDatabase } from '../../services/order-service/src/db/database.js'
import { migrate } from '../../services/order-service/src/db/migrate.js'
import { createPool } from '../../services/order-service/src/db/pool.js'
import { seed } from '../../services/order-service/src/db/seed.js'

/**
 * Where the bench works: a database of its own (never the shared ones) and a key prefix unique to
 * this run, whose keys are all deleted at the end.
 */
export interface Fixture {
  redisUrl: string
  mysqlUrl: string
  /** Prefix of this run; sections add a suffix per process group. */
  prefix: string
  adminToken: string
  redis: Redis
  /** Deletes every key under the run's prefix. */
  cleanup(): Promise<void>
}

export interface FixtureOptions {
  redisUrl: string
  mysqlUrl: string
  /** Orders 1..seedCount exist in MySQL (idempotent seed). */
  seedCount: number
}

export async function createFixture(opts: FixtureOptions): Promise<Fixture> {
  await ensureDatabase(opts.mysqlUrl)
  const pool = createPool({ url: opts.mysqlUrl, connectionLimit: 2, queueLimit: 10, connectTimeoutMs: 5000 })
  try {
    await migrate(pool)
    await seed(pool, { count: opts.seedCount })
  } finally {
    await pool.end()
  }
  const prefix = `cachelab-bench:${process.pid}-${randomBytes(3).toString('hex')}:`
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 })
  return {
    redisUrl: opts.redisUrl,
    mysqlUrl: opts.mysqlUrl,
    prefix,
    adminToken: `bench-${randomBytes(12).toString('hex')}`,
    redis,
    async cleanup() {
      await scanDelete(redis, `${prefix}*`)
      redis.disconnect()
    },
  }
}
