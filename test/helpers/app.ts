import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../services/order-service/src/app.js'
import { loadConfig, type Config } from '../../services/order-service/src/config.js'
import { dropDatabase, ensureDatabase } from '../../services/order-service/src/db/database.js'
import { migrate } from '../../services/order-service/src/db/migrate.js'
import { createPool } from '../../services/order-service/src/db/pool.js'
import { seed } from '../../services/order-service/src/db/seed.js'
import { MYSQL_URL, REDIS_URL, mysqlUrlFor } from './services.js'

export const TEST_TOKEN = 'test-admin-token-0123456789'

/** A database and a key prefix of its own, so test files running in parallel never collide. */
export interface Sandbox {
  mysqlUrl: string
  redisUrl: string
  keyPrefix: string
  /** Config for an app in this sandbox; overrides win. */
  config(overrides?: Partial<Config>): Config
  /** Creates the schema and loads orders 1..count. */
  seed(count: number): Promise<void>
  drop(): Promise<void>
}

export async function createSandbox(opts: { redisUrl?: string; mysqlBase?: string } = {}): Promise<Sandbox> {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`
  const mysqlUrl = mysqlUrlFor(`cachelab_t_${tag}`, opts.mysqlBase ?? MYSQL_URL)
  const redisUrl = opts.redisUrl ?? REDIS_URL
  const keyPrefix = `cachelab-test:${tag}:`
  await ensureDatabase(mysqlUrl)
  return {
    mysqlUrl,
    redisUrl,
    keyPrefix,
    config: (overrides = {}) =>
      loadConfig({ MYSQL_URL: mysqlUrl, REDIS_URL: redisUrl, KEY_PREFIX: keyPrefix, ADMIN_TOKEN: TEST_TOKEN, LOG_LEVEL: 'silent', PORT: 0, ...overrides }, {}),
    async seed(count) {
      const pool = createPool({ url: mysqlUrl, connectionLimit: 2, queueLimit: 10, connectTimeoutMs: 5000 })
      try {
        await migrate(pool)
        await seed(pool, { count })
      } finally {
        await pool.end()
      }
    },
    async drop() {
      await dropDatabase(mysqlUrl)
    },
  }
}

/** Builds an app in the sandbox; the caller closes it (apps() below does it for you). */
export function build(sandbox: Sandbox, overrides: Partial<Config> = {}): Promise<FastifyInstance> {
  return buildApp(sandbox.config(overrides), { logger: false })
}

export const auth = { authorization: `Bearer ${TEST_TOKEN}` }

export interface Route {
  method: string
  url: string
  schema: { params?: unknown; body?: unknown; querystring?: unknown }
}

/**
 * Builds an app and lists every route it registered (from Fastify's onRoute hook, so a route added
 * anywhere, admin scope included, is listed without touching the test). HEAD twins are left out.
 */
export async function buildWithRoutes(sandbox: Sandbox, overrides: Partial<Config> = {}): Promise<{ app: FastifyInstance; routes: Route[] }> {
  const routes: Route[] = []
  const app = await buildApp(sandbox.config(overrides), {
    logger: false,
    onRoute: (r) => {
      for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url, schema: (r.schema ?? {}) as Route['schema'] })
    },
  })
  return { app, routes }
}

/** Counts the rows of the orders table (to prove a refused request wrote nothing). */
export async function countOrders(app: FastifyInstance): Promise<number> {
  const [rows] = await app.mysql.query('SELECT COUNT(*) AS n FROM orders')
  return Number((rows as { n: number | string }[])[0]!.n)
}

export type { FastifyInstance }
