import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Pool } from 'mysql2/promise'
import { request } from 'undici'
import { scanDelete } from '../../services/order-service/src/cache/scan.js'
import { dropDatabase, ensureDatabase } from '../../services/order-service/src/db/database.js'
import { migrate } from '../../services/order-service/src/db/migrate.js'
import { createPool } from '../../services/order-service/src/db/pool.js'
import { seed } from '../../services/order-service/src/db/seed.js'
import { AdminClient } from './admin.js'
import { LabError, describeError } from './errors.js'
import { ProcessManager } from './processes.js'
import { OWN_REDIS, OwnRedisServer } from './redis-server.js'
import { scrape } from './prom.js'
import type { Definition } from './schemas.js'
import type { ProcessControl, TargetInfo } from './types.js'

export const SERVICE_ENTRY = 'services/order-service/src/server.ts'
export const SERVICE = 'order-service'
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/test'

/** The deployment under load, with what the runner and effects modules use to drive and inspect it. */
export interface Target extends TargetInfo {
  /** One admin client per replica (the first is the one phases are set up through). */
  admins: AdminClient[]
  mysql: Pool | undefined
  redis: Redis | undefined
  close(): Promise<void>
}

/** A URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}

async function connectRedis(url: string, what: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => null })
  let cause: unknown
  redis.on('error', (err) => (cause ??= err))
  try {
    await redis.connect()
    await redis.ping()
  } catch (err) {
    redis.disconnect()
    // ioredis rejects with "Connection is closed"; the socket error says why.
    throw new LabError(`cannot reach Redis at ${redact(url)} (${what}): ${describeError(cause ?? err)}`)
  }
  // From now on, reconnect as usual if the connection drops during the run.
  redis.options.retryStrategy = (times) => Math.min(times * 100, 2000)
  return redis
}

export interface LocalOptions {
  log: (msg: string) => void
  /** Forward the children's output (their LOG_LEVEL stays warn unless overridden by the scenario). */
  env?: Record<string, string>
}

/**
 * Starts the deployment a scenario asks for against REDIS_URL / MYSQL_URL (default: the local
 * servers), in a database and key prefix of this run's own (so it never collides with a running
 * service, another run, or the tests), seeded with what the scenario needs. close() stops the
 * processes and drops the database and keys, whatever happened before.
 */
export async function startLocal(def: Definition, opts: LocalOptions): Promise<Target> {
  const cleanups: (() => Promise<unknown>)[] = []
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch {
        // best effort: the rest must still be cleaned
      }
    }
    cleanups.length = 0
  }
  try {
    let redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL
    let ownRedis: OwnRedisServer | undefined
    if (def.deployment?.redis === 'own') {
      ownRedis = await OwnRedisServer.start()
      cleanups.push(() => ownRedis!.close())
      redisUrl = ownRedis.url
      opts.log(`started a redis-server of this run's own on port ${ownRedis.port}`)
    }
    const mysqlBase = process.env.MYSQL_URL || DEFAULT_MYSQL_URL
    const tag = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`
    const keyPrefix = `cachelab-lab:${tag}:`
    const dbUrl = new URL(mysqlBase)
    dbUrl.pathname = `/cachelab_lab_${tag}`
    const mysqlUrl = dbUrl.toString()

    const redis = await connectRedis(redisUrl, ownRedis ? "the run's own redis-server" : 'REDIS_URL')
    cleanups.push(async () => {
      // The run's own server goes away whole (and may be frozen by a failed phase: no command).
      if (!ownRedis) await scanDelete(redis, `${keyPrefix}*`)
      redis.disconnect()
    })
    try {
      await ensureDatabase(mysqlUrl)
    } catch (err) {
      throw new LabError(`cannot reach MySQL at ${redact(mysqlBase)} (MYSQL_URL): ${describeError(err)}`)
    }
    cleanups.push(() => dropDatabase(mysqlUrl))
    const pool = createPool({ url: mysqlUrl, connectionLimit: 4, queueLimit: 100, connectTimeoutMs: 3000 })
    cleanups.push(() => pool.end())
    await migrate(pool)
    opts.log(`seeding ${def.seed.orders} orders into ${dbUrl.pathname.slice(1)}`)
    await seed(pool, { count: def.seed.orders })

    const token = randomBytes(24).toString('hex')
    const baseEnv: Record<string, string> = {
      REDIS_URL: redisUrl,
      MYSQL_URL: mysqlUrl,
      KEY_PREFIX: keyPrefix,
      ADMIN_TOKEN: token,
      LOG_LEVEL: 'warn',
      MIGRATE_ON_START: 'false',
      HOST: '127.0.0.1',
      ...opts.env,
    }
    const pm = new ProcessManager()
    cleanups.push(() => pm.stopAll())
    const replicas = def.deployment?.replicas ?? 1
    opts.log(`starting ${replicas} ${SERVICE} replica${replicas > 1 ? 's' : ''}${(def.deployment?.processes ?? []).map((p) => ` + ${p.name}`).join('')}`)
    await Promise.all([
      pm.start({ name: SERVICE, entry: SERVICE_ENTRY, replicas, env: { ...baseEnv, ...def.deployment?.env }, http: true }),
      ...(def.deployment?.processes ?? []).map((p) => pm.start({ name: p.name, entry: p.entry, replicas: p.replicas ?? 1, env: { ...baseEnv, ...p.env }, http: p.http ?? false })),
    ])
    const baseUrls = pm.urls(SERVICE)
    return {
      mode: 'local',
      baseUrls,
      keyPrefix,
      admins: baseUrls.map((u) => new AdminClient(u, token)),
      scrape: () => scrape(pm.metricsUrls()),
      processes: ownRedis ? withOwnRedis(pm, ownRedis) : pm,
      mysql: pool,
      redis,
      close: cleanup,
    }
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** The run's processes plus its own redis-server, which phase events address as process "redis". */
function withOwnRedis(pm: ProcessManager, redis: OwnRedisServer): ProcessControl {
  return {
    names: () => [...pm.names(), OWN_REDIS],
    running: (name) => (name === OWN_REDIS ? redis.running() : pm.running(name)),
    signal: (name, signal) => (name === OWN_REDIS ? redis.signal(signal) : pm.signal(name, signal)),
  }
}

export interface RemoteOptions {
  baseUrl: string
  adminToken: string
  /** /metrics URLs of every replica (default: the base URL's, i.e. whichever replica answers). */
  metricsUrls?: string[]
}

/**
 * A deployment the runner did not start (the compose stack): driven through its admin API only.
 * Its database and Redis are reachable for effects modules when MYSQL_URL / REDIS_URL are set.
 */
export async function connectRemote(def: Definition, opts: RemoteOptions): Promise<Target> {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '')
  try {
    const res = await request(`${baseUrl}/healthz`, { headersTimeout: 5000, bodyTimeout: 5000 })
    await res.body.dump()
    if (res.statusCode !== 200) throw new Error(`GET /healthz answered ${res.statusCode}`)
  } catch (err) {
    throw new LabError(`cannot reach --base-url ${baseUrl}: ${describeError(err)}`)
  }
  const admin = new AdminClient(baseUrl, opts.adminToken)
  await admin.strategies() // proves the token
  const probe = await request(`${baseUrl}/orders/${def.seed.orders}`, { headersTimeout: 5000, bodyTimeout: 5000 })
  await probe.body.dump()
  if (probe.statusCode === 404) throw new LabError(`the deployment at ${baseUrl} has no order ${def.seed.orders}; scenario ${def.name} needs orders 1..${def.seed.orders}: seed it (npm run seed -- --count ${def.seed.orders})`)
  const processEvent = def.phases.flatMap((p) => (p.events ?? []).map((e) => ({ p, e }))).find(({ e }) => 'process' in e)
  if (processEvent) throw new LabError(`scenario ${def.name} phase ${processEvent.p.name} signals a process (kill, freeze, restart), which only works when the runner starts the service itself (drop --base-url)`)
  const metricsUrls = opts.metricsUrls?.length ? opts.metricsUrls : [`${baseUrl}/metrics`]
  const mysql = process.env.MYSQL_URL ? createPool({ url: process.env.MYSQL_URL, connectionLimit: 2, queueLimit: 100, connectTimeoutMs: 3000 }) : undefined
  const redis = process.env.REDIS_URL ? await connectRedis(process.env.REDIS_URL, 'REDIS_URL') : undefined
  return {
    mode: 'remote',
    baseUrls: [baseUrl],
    keyPrefix: process.env.KEY_PREFIX || 'cachelab:',
    admins: [admin],
    scrape: () => scrape(metricsUrls),
    mysql,
    redis,
    async close() {
      // Leave the deployment as a lab run found it: baseline strategies, no faults.
      await admin.resetStrategies().catch(() => {})
      await admin.clearFaults().catch(() => {})
      await mysql?.end()
      redis?.disconnect()
    },
  }
}
