import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ABSENT_SENTINEL } from '../../services/order-service/src/cache/codec.js'
import { CREATION_FENCE_SECONDS, fenceKey } from '../../services/order-service/src/strategies/penetration/creation-journal.js'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { createOrder, forceNextOrderId, metric, metrics, newOrder, setPenetration } from '../helpers/penetration.js'

let sandbox: Sandbox
let app: FastifyInstance
let nextId = 5_000_000

/** An id nobody has read or created yet in this file. */
const freshId = () => String(++nextId)

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(50)
  // Correctness under concurrency, not timeouts: a busy shared machine stalls past the default bounds.
  app = await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: 2000, MYSQL_CONNECT_TIMEOUT_MS: 10_000 })
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})
beforeEach(async () => {
  await setPenetration(app, 'null-cache', { nullTtlSeconds: 30 })
})

describe('null-cache: a MySQL miss is cached as a sentinel', () => {
  it('answers the next read of the missing id from the sentinel, without MySQL', async () => {
    const id = freshId()
    const before = await metrics(app, { selects: ['cachelab_db_queries_total', 'operation="select"'], nullHits: ['cachelab_cache_lookups_total', 'outcome="null_hit"'], stored: ['cachelab_null_sentinel_writes_total', 'result="stored"'] })
    expect((await app.inject(`/orders/${id}`)).statusCode).toBe(404)
    expect(await app.redis.get(app.keys.order(id))).toBe(ABSENT_SENTINEL)
    for (let i = 0; i < 5; i++) {
      const res = await app.inject(`/orders/${id}`)
      expect(res.statusCode).toBe(404)
      expect(res.json().code).toBe('CACHELAB_ORDER_NOT_FOUND')
    }
    const after = await metrics(app, { selects: ['cachelab_db_queries_total', 'operation="select"'], nullHits: ['cachelab_cache_lookups_total', 'outcome="null_hit"'], stored: ['cachelab_null_sentinel_writes_total', 'result="stored"'] })
    expect(after.selects - before.selects).toBe(1)
    expect(after.nullHits - before.nullHits).toBe(5)
    expect(after.stored - before.stored).toBe(1)
  })

  it('gives the sentinel exactly nullTtlSeconds, never 0 and never "no expiry", whatever the order TTL policy says', async () => {
    // Order TTL policy at its extremes: the sentinel must not follow it.
    const put = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { avalanche: { params: { ttlSeconds: 1, jitterFraction: 0.9, minTtlSeconds: 1 } } } })
    expect(put.statusCode).toBe(200)
    try {
      for (const nullTtl of [1, 2, 7, 3600]) {
        await setPenetration(app, 'null-cache', { nullTtlSeconds: nullTtl })
        const id = freshId()
        expect((await app.inject(`/orders/${id}`)).statusCode).toBe(404)
        const pttl = await app.redis.pttl(app.keys.order(id))
        // -1 would be "no expiry", -2 "gone": both are the bug this guards against.
        expect(pttl, `nullTtlSeconds=${nullTtl}`).toBeGreaterThan(0)
        expect(pttl).toBeLessThanOrEqual(nullTtl * 1000)
        expect(pttl).toBeGreaterThan(nullTtl * 1000 - 1000)
      }
    } finally {
      await app.inject({ method: 'DELETE', url: '/admin/strategies', headers: auth })
    }
  })

  it('never overwrites a cached order with a sentinel', async () => {
    const id = freshId()
    const json = JSON.stringify({ id, marker: 'cached order' })
    await app.redis.set(app.keys.order(id), json, 'EX', 60)
    await app.strategies.active.penetration.onMissingInDb(id)
    expect(await app.redis.get(app.keys.order(id))).toBe(json)
    expect(await metric(app, 'cachelab_null_sentinel_writes_total', 'result="kept"')).toBeGreaterThanOrEqual(1)
  })
})

describe('null-cache: creating an order removes its sentinel', () => {
  it('a new order is readable at once even though its id was cached as "not found"', async () => {
    const id = freshId()
    expect((await app.inject(`/orders/${id}`)).statusCode).toBe(404)
    expect(await app.redis.get(app.keys.order(id))).toBe(ABSENT_SENTINEL)
    const clearedBefore = await metric(app, 'cachelab_null_sentinels_cleared_total')

    forceNextOrderId(app, id)
    const created = await app.inject({ method: 'POST', url: '/orders', payload: newOrder })
    expect(created.statusCode).toBe(201)
    expect(created.json().id).toBe(id)

    const read = await app.inject(`/orders/${id}`)
    expect(read.statusCode).toBe(200)
    expect(read.json()).toEqual(created.json())
    expect(await metric(app, 'cachelab_null_sentinels_cleared_total')).toBe(clearedBefore + 1)
  })

  it('the race: a reader that saw MySQL miss before the insert cannot put the sentinel back after it', async () => {
    const id = freshId()
    const p = app.strategies.active.penetration
    // The reader's half of loadAndFill, split where the race is: the MySQL read happens first...
    expect(await app.repo.findById(id)).toBeNull()
    // ...then the order is created (insert, sentinel cleared)...
    forceNextOrderId(app, id)
    expect((await app.inject({ method: 'POST', url: '/orders', payload: newOrder })).statusCode).toBe(201)
    // ...and only then does the reader's sentinel fill reach Redis.
    const fencedBefore = await metric(app, 'cachelab_null_sentinel_writes_total', 'result="fenced"')
    await p.onMissingInDb(id)
    expect(await metric(app, 'cachelab_null_sentinel_writes_total', 'result="fenced"')).toBe(fencedBefore + 1)
    expect(await app.redis.get(app.keys.order(id))).toBeNull()
    expect((await app.inject(`/orders/${id}`)).statusCode).toBe(200)
    // The fence expires by itself (it is not a leak).
    const ttl = await app.redis.ttl(fenceKey(app.keys, id))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(CREATION_FENCE_SECONDS)
  })

  it('the other order of the race: a sentinel written just before the creation is removed by it', async () => {
    const id = freshId()
    await app.strategies.active.penetration.onMissingInDb(id)
    expect(await app.redis.get(app.keys.order(id))).toBe(ABSENT_SENTINEL)
    forceNextOrderId(app, id)
    expect((await app.inject({ method: 'POST', url: '/orders', payload: newOrder })).statusCode).toBe(201)
    expect((await app.inject(`/orders/${id}`)).statusCode).toBe(200)
  })

  it('under real concurrency: readers hammering an id while it is created never leave it hidden', async () => {
    let hiddenAfterCreate = 0
    for (let round = 0; round < 30; round++) {
      const id = freshId()
      let created = false
      let stop = false
      // Readers race the creation: their MySQL misses and sentinel fills interleave with it.
      const readers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const startedAfterCreate = created
          const res = await app.inject(`/orders/${id}`)
          // A read that started after the creation was acknowledged must find the order.
          if (startedAfterCreate && res.statusCode === 404) hiddenAfterCreate++
          if (startedAfterCreate) return
        }
      })
      forceNextOrderId(app, id)
      const res = await app.inject({ method: 'POST', url: '/orders', payload: newOrder })
      expect(res.statusCode).toBe(201)
      created = true
      stop = true
      await Promise.all(readers)
      // And whatever the interleaving, it is readable now and stays readable.
      for (let i = 0; i < 3; i++) expect((await app.inject(`/orders/${id}`)).statusCode).toBe(200)
    }
    expect(hiddenAfterCreate).toBe(0)
  })

  it('works the same for orders created with no sentinel in the way', async () => {
    const id = await createOrder(app)
    expect((await app.inject(`/orders/${id}`)).statusCode).toBe(200)
  })
})
