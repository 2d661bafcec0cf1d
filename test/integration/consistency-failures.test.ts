import Fastify from 'fastify'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CacheKeys } from '../../services/order-service/src/cache/keys.js'
import { DelayedDeletes } from '../../services/order-service/src/consistency/delayed-deletes.js'
import { Metrics } from '../../services/order-service/src/metrics.js'
import { createRedis, waitUntilReady } from '../../services/order-service/src/redis.js'
import { build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { cachedVersion, dbVersion, metric, useConsistency, waitFor } from '../helpers/consistency.js'
import { RedisServer } from '../helpers/redis-server.js'

// This file stops Redis: its own redis-server child, keeping its data across a restart as a real
// Redis with persistence would (the stale entry, the pending jobs).
let redis: RedisServer
let sandbox: Sandbox
let app: FastifyInstance
const clients: Redis[] = []

beforeAll(async () => {
  redis = await RedisServer.start({ keepData: true })
  sandbox = await createSandbox({ redisUrl: redis.url })
  await sandbox.seed(20)
  app = await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: 200 })
})
afterAll(async () => {
  await app?.close()
  for (const c of clients) c.disconnect()
  await redis?.stop()
  await sandbox?.drop()
})

async function redisBack(): Promise<void> {
  await redis.startProcess()
  await waitFor('the app reconnected to Redis', async () => (await app.inject('/readyz')).json().redis === 'up')
}

describe('a cache delete that fails is retried, never dropped', () => {
  it('update-then-delete with Redis down: the update succeeds, the delete is held and runs once Redis is back', async () => {
    await useConsistency(app, 'update-then-delete')
    const before = (await app.inject('/orders/5')).json()
    expect(await cachedVersion(app, '5')).toBe(before.version)
    const scheduled = await metric(app, 'cachelab_delayed_deletes_scheduled_total', 'kind="retry"')
    const done = await metric(app, 'cachelab_delayed_deletes_done_total', 'kind="retry"')

    await redis.stop()
    const put = await app.inject({ method: 'PUT', url: '/orders/5', payload: { quantity: 8 } })
    expect(put.statusCode, put.body).toBe(200)
    expect(put.json().version).toBe(before.version + 1)
    expect(await metric(app, 'cachelab_delayed_deletes_scheduled_total', 'kind="retry"')).toBe(scheduled + 1)
    expect(await metric(app, 'cachelab_delayed_deletes_pending')).toBeGreaterThanOrEqual(1)

    // Hold the processor while Redis comes back, to see what it is there to fix.
    await app.delayedDeletes.stop()
    await redisBack()
    expect(await cachedVersion(app, '5')).toBe(before.version)
    app.delayedDeletes.start()
    await waitFor('the retry job ran', async () => (await metric(app, 'cachelab_delayed_deletes_done_total', 'kind="retry"')) === done + 1)
    expect(await cachedVersion(app, '5')).toBeNull()
    expect((await app.inject('/orders/5')).json().version).toBe(before.version + 1)
    expect((await app.delayedDeletes.status()).pending).toBe(0)
  })

  for (const mode of ['delete-then-update', 'delayed-double-delete']) {
    it(`${mode} with Redis down: 503 before MySQL is touched`, async () => {
      await useConsistency(app, mode)
      const version = await dbVersion(app, '6')
      await redis.stop()
      try {
        const put = await app.inject({ method: 'PUT', url: '/orders/6', payload: { quantity: 8 } })
        expect(put.statusCode).toBe(503)
        expect(put.headers['retry-after']).toBe('1')
        expect(put.json()).toMatchObject({ code: 'CACHELAB_CACHE_UNAVAILABLE', message: expect.stringMatching(/nothing was written/) })
        expect(await dbVersion(app, '6')).toBe(version)
      } finally {
        await redisBack()
      }
    })
  }
})

describe('delete jobs across replicas (two job processors on the same Redis)', () => {
  const log = Fastify({ logger: false }).log
  async function replica(): Promise<{ jobs: DelayedDeletes; metrics: Metrics }> {
    const client = createRedis({ url: redis.url, commandTimeoutMs: 200, connectTimeoutMs: 1000, name: 'consistency-test' })
    client.on('error', () => {})
    clients.push(client)
    if (!(await waitUntilReady(client, 5000))) throw new Error('the test client could not connect to its Redis')
    const metrics = new Metrics({ enabled: true, defaultMetrics: false })
    return { jobs: new DelayedDeletes(client, new CacheKeys(`${sandbox.keyPrefix}replicas:`), metrics, log, { leaseMs: 3000 }), metrics }
  }
  async function count(m: Metrics, name: string): Promise<number> {
    const values = (await m.registry.getSingleMetric(name)!.get()).values
    return values.filter((v) => v.labels.kind === 'second_delete').reduce((sum, v) => sum + v.value, 0)
  }

  it('a claimed delete that fails (Redis killed) comes back after its lease and is done by another replica', async () => {
    const a = await replica()
    const b = await replica()
    const keys = new CacheKeys(`${sandbox.keyPrefix}replicas:`)
    const member = await a.jobs.deleteNowAndSchedule('7', Date.now())
    const stale = JSON.stringify({ id: '7', version: 1 })
    await clients[0]!.set(keys.order('7'), stale)

    const [job] = await a.jobs.claimDue()
    expect(job).toMatchObject({ member, id: '7', kind: 'second_delete', attempt: 1 })
    // Another replica sees nothing to do while the job is leased.
    expect(await b.jobs.claimDue()).toEqual([])
    await redis.stop()
    expect(await a.jobs.complete(job!)).toBe(false)
    expect(await count(a.metrics, 'cachelab_delayed_deletes_failed_total')).toBe(1)

    await redis.startProcess()
    // The entry and the job survived the restart; B takes the job once A's lease has lapsed.
    await waitFor('B reconnected', async () => (await clients[1]!.ping().catch(() => '')) === 'PONG')
    expect(await clients[1]!.get(keys.order('7'))).toBe(stale)
    let retried: Awaited<ReturnType<DelayedDeletes['claimDue']>> = []
    await waitFor('the lease lapsed and B claimed the job', async () => (retried = await b.jobs.claimDue().catch(() => [])).length > 0)
    expect(retried).toMatchObject([{ member, attempt: 2 }])
    expect(await count(b.metrics, 'cachelab_delayed_deletes_retried_total')).toBe(1)
    expect(await b.jobs.complete(retried[0]!)).toBe(true)
    expect(await count(b.metrics, 'cachelab_delayed_deletes_done_total')).toBe(1)
    expect(await clients[1]!.get(keys.order('7'))).toBeNull()
    expect((await b.jobs.status()).pending).toBe(0)
  })
})
