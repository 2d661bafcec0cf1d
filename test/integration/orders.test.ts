import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'

let sandbox: Sandbox
let app: FastifyInstance

/** The value of one series in the app's /metrics text (0 when absent). */
async function metric(name: string, labels: string): Promise<number> {
  const res = await app.inject('/metrics')
  const line = res.body.split('\n').find((l) => l.startsWith(`${name}{${labels}}`))
  return line ? Number(line.split(' ').pop()) : 0
}

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(100)
  app = await build(sandbox)
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

describe('GET /orders/:id (cache-aside read path)', () => {
  it('loads a miss from MySQL, caches it, and serves the next read from Redis', async () => {
    const missesBefore = await metric('cachelab_cache_lookups_total', 'outcome="miss"')
    const hitsBefore = await metric('cachelab_cache_lookups_total', 'outcome="hit"')
    const selectsBefore = await metric('cachelab_db_queries_total', 'operation="select"')

    const first = await app.inject('/orders/7')
    expect(first.statusCode).toBe(200)
    expect(first.headers['content-type']).toMatch(/application\/json/)
    const order = first.json()
    expect(order).toMatchObject({ id: '7', version: 1 })
    expect(typeof order.userId).toBe('number')

    const second = await app.inject('/orders/7')
    expect(second.statusCode).toBe(200)
    expect(second.body).toBe(first.body)

    expect(await metric('cachelab_cache_lookups_total', 'outcome="miss"')).toBe(missesBefore + 1)
    expect(await metric('cachelab_cache_lookups_total', 'outcome="hit"')).toBe(hitsBefore + 1)
    expect(await metric('cachelab_db_queries_total', 'operation="select"')).toBe(selectsBefore + 1)
    // The entry in Redis is the response body, with the configured TTL.
    expect(await app.redis.get(app.keys.order('7'))).toBe(first.body)
    const ttl = await app.redis.ttl(app.keys.order('7'))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(app.strategies.current().avalanche.params.ttlSeconds)
  })

  it('answers 404 with a message for an order that does not exist', async () => {
    const res = await app.inject('/orders/100000')
    expect(res.statusCode).toBe(404)
    expect(res.json()).toMatchObject({ code: 'CACHELAB_ORDER_NOT_FOUND', message: 'order 100000 not found' })
  })
})

describe('PUT /orders/:id', () => {
  it('bumps the version, invalidates the cache, and the next read shows the update', async () => {
    const before = (await app.inject('/orders/8')).json()
    const put = await app.inject({ method: 'PUT', url: '/orders/8', payload: { quantity: 42, status: 'shipped' } })
    expect(put.statusCode).toBe(200)
    expect(put.json()).toMatchObject({ id: '8', quantity: 42, status: 'shipped', version: before.version + 1 })
    expect(await app.redis.exists(app.keys.order('8'))).toBe(0)
    const after = (await app.inject('/orders/8')).json()
    expect(after.version).toBe(before.version + 1)
    expect(after.quantity).toBe(42)
  })

  it('answers 404 for an order that does not exist, and writes nothing', async () => {
    const res = await app.inject({ method: 'PUT', url: '/orders/5000', payload: { quantity: 1 } })
    expect(res.statusCode).toBe(404)
  })
})

describe('POST /orders (sync)', () => {
  it('inserts with a service-generated id and returns 201 with version 1; the order reads back', async () => {
    const res = await app.inject({ method: 'POST', url: '/orders', payload: { userId: 9, item: 'lamp', quantity: 2, amountCents: 1999 } })
    expect(res.statusCode).toBe(201)
    const created = res.json()
    expect(created).toMatchObject({ userId: 9, item: 'lamp', quantity: 2, amountCents: 1999, status: 'pending', version: 1 })
    expect(created.id).toMatch(/^[1-9][0-9]{15,18}$/)
    const read = await app.inject(`/orders/${created.id}`)
    expect(read.statusCode).toBe(200)
    expect(read.json()).toEqual(created)
  })

  it('gives every order of a burst its own id', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: '/orders', payload: { userId: 1, item: 'cable', quantity: 1, amountCents: 100 } })),
    )
    expect(results.every((r) => r.statusCode === 201)).toBe(true)
    expect(new Set(results.map((r) => r.json().id)).size).toBe(50)
  })
})

describe('health', () => {
  it('reports Redis and MySQL state on /readyz and liveness on /healthz', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' })
    expect((await app.inject('/readyz')).json()).toEqual({ status: 'ok', redis: 'up', mysql: 'up' })
  })

  it('exposes the active strategy modes and faults as gauges', async () => {
    expect(await metric('cachelab_strategy_mode', 'family="penetration",mode="none"')).toBe(1)
    expect(await metric('cachelab_chaos_fault_active', 'fault="db-latency"')).toBe(0)
  })
})

describe('chaos: db-latency', () => {
  it('is visible as a metric while active and applies to MySQL queries', async () => {
    const on = await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-latency', params: { ms: 30 } } })
    expect(on.statusCode).toBe(200)
    expect(await metric('cachelab_chaos_fault_active', 'fault="db-latency"')).toBe(1)
    expect(app.chaos.affects('select')).toBe(true)
    // The query's own duration histogram records the added latency (a fact, not a timing race).
    const sumBefore = await metric('cachelab_db_query_duration_seconds_sum', 'operation="select"')
    expect((await app.inject('/orders/20')).statusCode).toBe(200)
    const sumAfter = await metric('cachelab_db_query_duration_seconds_sum', 'operation="select"')
    expect(sumAfter - sumBefore).toBeGreaterThanOrEqual(0.03)

    const off = await app.inject({ method: 'DELETE', url: '/admin/chaos/db-latency', headers: auth })
    expect(off.json()).toEqual({ active: [] })
    expect(await metric('cachelab_chaos_fault_active', 'fault="db-latency"')).toBe(0)
    expect(app.chaos.affects('select')).toBe(false)
  })

  it('ends a fault by itself after its duration', async () => {
    await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-latency', params: { ms: 5 }, durationSeconds: 1 } })
    expect(app.chaos.list()).toHaveLength(1)
    await new Promise((r) => setTimeout(r, 1200))
    expect(app.chaos.list()).toHaveLength(0)
    await app.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })
  })
})

describe('admin cache: warm-up and flush', () => {
  it('warms a range at once with the active TTL, counts the missing, and flush drops every cached order', async () => {
    const res = await app.inject({ method: 'POST', url: '/admin/cache/warm', headers: auth, payload: { from: 95, count: 10 } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ warmed: 6, missing: 4 })
    expect(await app.redis.exists(app.keys.order('95'), app.keys.order('100'), app.keys.order('101'))).toBe(2)
    const byList = await app.inject({ method: 'POST', url: '/admin/cache/warm', headers: auth, payload: { ids: ['1', '2'] } })
    expect(byList.json()).toEqual({ warmed: 2, missing: 0 })
    const flush = await app.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })
    expect(flush.statusCode, flush.body).toBe(200)
    expect(flush.json().deleted).toBeGreaterThanOrEqual(8)
    expect(await app.redis.exists(app.keys.order('95'), app.keys.order('1'))).toBe(0)
  })

  it('refuses a bad warm-up body with a message', async () => {
    const res = await app.inject({ method: 'POST', url: '/admin/cache/warm', headers: auth, payload: { ids: ['0'] } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(/body/)
  })
})
