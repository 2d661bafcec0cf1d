import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, countOrders, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { RedisServer } from '../helpers/redis-server.js'
import { eventually, metric, newOrder, setPenetration } from '../helpers/penetration.js'

// This file stops Redis: it runs its own redis-server child, never the machine's shared one.
let redis: RedisServer
let sandbox: Sandbox
let app: FastifyInstance

beforeAll(async () => {
  redis = await RedisServer.start()
  sandbox = await createSandbox({ redisUrl: redis.url })
  await sandbox.seed(20)
  app = await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: 200 })
})
afterAll(async () => {
  await app?.close()
  await redis?.stop()
  await sandbox?.drop()
})

async function redisBack(): Promise<void> {
  await redis.startProcess()
  await eventually(async () => (await app.inject('/readyz')).json().redis === 'up', 10_000, 'Redis reconnect')
}

describe('penetration defenses while Redis is down', () => {
  it('bloom: refuses new orders clearly (it could not tell the other replicas), never rejects on a filter it cannot bring up to date', async () => {
    await setPenetration(app, 'bloom', { bloomCapacity: 1000 })
    await redis.stop()
    try {
      const rows = await countOrders(app)
      const res = await app.inject({ method: 'POST', url: '/orders', payload: newOrder })
      expect(res.statusCode).toBe(503)
      expect(res.headers['retry-after']).toBe('1')
      expect(res.json()).toMatchObject({ code: 'CACHELAB_CACHE_UNAVAILABLE', message: expect.stringMatching(/creation journal.*nothing was written/) })
      expect(await countOrders(app)).toBe(rows)

      // Existing orders still read (from MySQL); a missing id is let through to MySQL, not rejected.
      expect((await app.inject('/orders/3')).statusCode).toBe(200)
      const rejects = await metric(app, 'cachelab_bloom_checks_total', 'answer="absent"')
      const unchecked = await metric(app, 'cachelab_bloom_checks_total', 'answer="unchecked"')
      expect((await app.inject('/orders/999999')).statusCode).toBe(404)
      expect(await metric(app, 'cachelab_bloom_checks_total', 'answer="absent"')).toBe(rejects)
      expect(await metric(app, 'cachelab_bloom_checks_total', 'answer="unchecked"')).toBe(unchecked + 1)
    } finally {
      await redisBack()
    }
    // Back (this test's Redis keeps nothing across a restart: the strategy state is re-applied).
    await setPenetration(app, 'bloom', { bloomCapacity: 1000 })
    expect((await app.inject({ method: 'POST', url: '/orders', payload: newOrder })).statusCode).toBe(201)
    const rejects = await metric(app, 'cachelab_bloom_checks_total', 'answer="absent"')
    expect((await app.inject(`/orders/999998`)).statusCode).toBe(404)
    expect(await metric(app, 'cachelab_bloom_checks_total', 'answer="absent"')).toBe(rejects + 1)
  })

  it('null-cache: refuses new orders too (a stale sentinel could hide them once Redis is back)', async () => {
    await setPenetration(app, 'null-cache')
    await redis.stop()
    try {
      const res = await app.inject({ method: 'POST', url: '/orders', payload: newOrder })
      expect(res.statusCode).toBe(503)
      expect(res.json().code).toBe('CACHELAB_CACHE_UNAVAILABLE')
    } finally {
      await redisBack()
    }
  })

  it('none: creations go on without the journal (counted), since no defense depends on it', async () => {
    await setPenetration(app, 'none')
    await redis.stop()
    try {
      const errors = await metric(app, 'cachelab_creation_journal_writes_total', 'result="error"')
      const res = await app.inject({ method: 'POST', url: '/orders', payload: newOrder })
      expect(res.statusCode).toBe(201)
      expect((await app.inject(`/orders/${res.json().id}`)).statusCode).toBe(200)
      expect(await metric(app, 'cachelab_creation_journal_writes_total', 'result="error"')).toBe(errors + 1)
    } finally {
      await redisBack()
    }
  })
})
