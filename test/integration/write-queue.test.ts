import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { scanDelete } from '../../services/order-service/src/cache/scan.js'
import type { NewOrder } from '../../services/order-service/src/db/order-repository.js'
import { pendingOrder, queueKeys } from '../../services/order-service/src/queue/order-queue.js'
import { TokenBucket, burstFor, maxGrantsIn } from '../../services/order-service/src/queue/token-bucket.js'
import type { WorkerConfig } from '../../services/order-worker/src/config.js'
import type { WorkerHandle } from '../../services/order-worker/src/worker.js'
import { auth, build, countOrders, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { burst, metricValue, rowsPerId, setWrites, startTestWorker, waitFor } from '../helpers/worker.js'

// The write queue end to end, with the worker in this process: real Redis streams, real MySQL.
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
})

/** A sandbox (own database and prefix) with a service app in queue mode. */
async function lab(params: Record<string, number> = {}): Promise<{ sandbox: Sandbox; app: FastifyInstance }> {
  const sandbox = await createSandbox()
  cleanups.push(() => sandbox.drop())
  await sandbox.seed(0)
  const app = await build(sandbox)
  cleanups.push(async () => {
    await scanDelete(app.redis, `${sandbox.keyPrefix}*`)
    await app.close()
  })
  await setWrites(app, 'queue', params)
  return { sandbox, app }
}

async function worker(sandbox: Sandbox, overrides: Partial<WorkerConfig> = {}): Promise<WorkerHandle> {
  const w = await startTestWorker(sandbox, overrides)
  cleanups.push(() => w.stop())
  return w
}

const depth = (app: FastifyInstance) => app.writeQueue.stats().then((s) => s.depth)

/** An order as the service would enqueue it, with whatever data the test needs. */
function order(id: string, patch: Partial<NewOrder> = {}): NewOrder {
  return { id, userId: 7, item: 'lamp', quantity: 1, amountCents: 1500, status: 'pending', createdAt: new Date().toISOString(), ...patch }
}

/** Enqueues directly (the API would refuse data like this): a message MySQL will refuse. */
async function enqueueRaw(app: FastifyInstance, o: NewOrder): Promise<void> {
  const res = await app.writeQueue.enqueue(o, pendingOrder(o, 'queued'), 1000)
  expect(res.accepted).toBe(true)
}

describe('POST /orders in queue mode', () => {
  it('answers 202 with the order and its Location; reads answer the pending state until the worker writes it', async () => {
    const { sandbox, app } = await lab()
    const learned: string[] = []
    const penetration = app.strategies.active.penetration
    app.strategies.active.penetration = Object.assign(Object.create(penetration), { onCreated: async (id: string) => void learned.push(id) })

    const res = await app.inject({ method: 'POST', url: '/orders', payload: { userId: 3, item: 'desk lamp', quantity: 2, amountCents: 4200 } })
    expect(res.statusCode).toBe(202)
    const accepted = res.json()
    expect(res.headers.location).toBe(`/orders/${accepted.id}`)
    expect(accepted).toMatchObject({ userId: 3, item: 'desk lamp', quantity: 2, amountCents: 4200, status: 'pending', version: 1, state: 'queued' })
    // The penetration defense learns the id at acceptance, not when the worker writes it.
    expect(learned).toEqual([accepted.id])
    expect(await countOrders(app)).toBe(0)

    const pending = await app.inject(`/orders/${accepted.id}`)
    expect(pending.statusCode).toBe(200)
    expect(pending.json()).toEqual(accepted)
    // The pending state is never cached: the cache only ever holds what MySQL has.
    expect(await app.redis.exists(app.keys.order(accepted.id))).toBe(0)

    // Switching back to sync keeps queued orders readable.
    await setWrites(app, 'sync')
    expect((await app.inject(`/orders/${accepted.id}`)).json()).toEqual(accepted)

    await worker(sandbox)
    await waitFor('the order in MySQL', async () => (await rowsPerId(app, [accepted.id])).lost.length === 0)
    const persisted = await app.inject(`/orders/${accepted.id}`)
    expect(persisted.statusCode).toBe(200)
    const { state: _state, ...expected } = accepted
    expect(persisted.json()).toEqual(expected)
    // The pending entry expires after a grace period (a read that raced the commit still finds it).
    const ttl = await app.redis.pttl(app.writeQueue.pendingKey(accepted.id))
    expect(ttl).toBeGreaterThan(0)
  })

  it('refuses with 503 + Retry-After once queueMaxDepth orders wait, never overshoots, and loses none it accepted', async () => {
    const { sandbox, app } = await lab({ queueMaxDepth: 20 })
    const { accepted, refused } = await burst(app, 60)
    // The depth check and the append are one Lua script: exactly maxDepth get in, whatever the
    // concurrency. (On a saturated machine an enqueue can time out; its 503 says so, with its own code.)
    expect((await app.writeQueue.stats()).depth).toBe(20)
    const full = refused.filter((r) => r.code === 'CACHELAB_QUEUE_FULL')
    expect(full.length).toBeGreaterThan(0)
    expect(accepted.length + full.length).toBeLessThanOrEqual(60)
    expect(accepted.length).toBeLessThanOrEqual(20)
    for (const r of refused) {
      expect(r.status).toBe(503)
      expect(r.retryAfter).toBe('1')
      expect(['CACHELAB_QUEUE_FULL', 'CACHELAB_QUEUE_UNAVAILABLE']).toContain(r.code)
    }

    const stats = await app.inject({ url: '/admin/queue', headers: auth })
    expect(stats.json()).toMatchObject({ mode: 'queue', depth: 20, waiting: 20, inFlight: 0, deadLetters: 0, params: { queueMaxDepth: 20 } })
    // Gauges are read from Redis at scrape time (a scrape whose read times out keeps the last values).
    let metrics = ''
    await waitFor('cachelab_queue_depth 20 on /metrics', async () => /^cachelab_queue_depth 20$/m.test((metrics = (await app.inject('/metrics')).body)))
    expect(metrics).toMatch(new RegExp(`^cachelab_queue_enqueued_total\\{result="accepted"\\} ${accepted.length}$`, 'm'))
    expect(metrics).toMatch(new RegExp(`^cachelab_queue_enqueued_total\\{result="full"\\} ${full.length}$`, 'm'))

    await worker(sandbox)
    await waitFor('the queue to drain', async () => (await depth(app)) === 0)
    expect(await rowsPerId(app, accepted)).toEqual({ lost: [], duplicated: [] })
    // What the queue held, and nothing more, reached MySQL.
    expect(await countOrders(app)).toBe(20)
  })
})

describe('the order worker', () => {
  const fast: Partial<WorkerConfig> = { WORKER_RETRY_BASE_MS: 10, WORKER_RETRY_MAX_MS: 50, WORKER_CLAIM_IDLE_MS: 2000, MYSQL_QUERY_TIMEOUT_MS: 1000 }

  it('moves a poison message to the dead-letter queue after queueMaxAttempts while the rest keep flowing', async () => {
    const { sandbox, app } = await lab({ queueMaxAttempts: 3 })
    const poison = order('990000000000000001', { createdAt: 'not-a-date' })
    await enqueueRaw(app, poison)
    const { accepted } = await burst(app, 30)
    const w = await worker(sandbox, fast)

    await waitFor('the poison message in the dead-letter queue and the queue drained', async () => {
      const s = await app.writeQueue.stats()
      return s.deadLetters === 1 && s.depth === 0
    })
    expect(await rowsPerId(app, accepted)).toEqual({ lost: [], duplicated: [] })
    const list = (await app.inject({ url: '/admin/queue/dead-letters', headers: auth })).json()
    expect(list.deadLetters).toHaveLength(1)
    expect(list.deadLetters[0]).toMatchObject({ orderId: poison.id, attempts: 3, order: { id: poison.id, createdAt: 'not-a-date' } })
    expect(list.deadLetters[0].error).toMatch(/datetime/i)
    // Three attempts reached MySQL; two were retried, the third moved it.
    expect(await metricValue(w.metrics, 'cachelab_db_errors_total', { operation: 'insert' })).toBe(3)
    expect(await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'retried' })).toBe(2)
    expect(await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'dead' })).toBe(1)
    expect(await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'acked' })).toBe(30)
    // Still accepted, and says where it is.
    expect((await app.inject(`/orders/${poison.id}`)).json()).toMatchObject({ id: poison.id, state: 'dead-lettered' })
  })

  it('replays dead letters (one, or all) once their cause is fixed', async () => {
    const { sandbox, app } = await lab({ queueMaxAttempts: 2 })
    // Longer than the column: refused by MySQL until the column is widened.
    const long = ['990000000000000011', '990000000000000012', '990000000000000013'].map((id) => order(id, { item: `${id} ${'x'.repeat(150)}` }))
    for (const o of long) await enqueueRaw(app, o)
    await worker(sandbox, fast)
    await waitFor('three dead letters', async () => (await app.writeQueue.stats()).deadLetters === 3)

    // Paged in the order they died (retries are jittered, so not necessarily the order they came).
    const page1 = (await app.inject({ url: '/admin/queue/dead-letters?limit=2', headers: auth })).json()
    expect(page1.deadLetters).toHaveLength(2)
    expect(page1.next).toBe(page1.deadLetters[1].entryId)
    const page2 = (await app.inject({ url: `/admin/queue/dead-letters?limit=2&after=${page1.next}`, headers: auth })).json()
    expect(page2).toMatchObject({ deadLetters: [{ attempts: 2 }], next: null })
    const listed = [...page1.deadLetters, ...page2.deadLetters] as { orderId: string; attempts: number; error: string }[]
    expect(listed.map((d) => d.orderId).sort()).toEqual(long.map((o) => o.id))
    for (const d of listed) expect(d.error).toMatch(/too long/i)

    await app.mysql.query('ALTER TABLE orders MODIFY item VARCHAR(300) NOT NULL')
    const one = await app.inject({ method: 'POST', url: `/admin/queue/dead-letters/${page1.deadLetters[0].entryId}/replay`, headers: auth })
    expect(one.statusCode, one.body).toBe(200)
    expect(one.json()).toMatchObject({ replayed: page1.deadLetters[0].entryId, entryId: expect.stringMatching(/^\d+-\d+$/) })
    const again = await app.inject({ method: 'POST', url: `/admin/queue/dead-letters/${page1.deadLetters[0].entryId}/replay`, headers: auth })
    expect(again.statusCode).toBe(404)
    expect(again.json().code).toBe('CACHELAB_DEAD_LETTER_NOT_FOUND')

    const all = await app.inject({ method: 'POST', url: '/admin/queue/dead-letters/replay', headers: auth })
    expect(all.json()).toEqual({ replayed: 2, remaining: 0, queueFull: false })
    await waitFor('the replayed orders in MySQL', async () => (await rowsPerId(app, long.map((o) => o.id))).lost.length === 0)
    expect(await rowsPerId(app, long.map((o) => o.id))).toEqual({ lost: [], duplicated: [] })
    const first = long.find((o) => o.id === page1.deadLetters[0].orderId)!
    expect((await app.inject(`/orders/${first.id}`)).json()).toMatchObject({ id: first.id, item: first.item, version: 1 })
    expect((await app.writeQueue.stats()).deadLetters).toBe(0)
  })

  it('refuses bad admin input with a clear 400', async () => {
    const { app } = await lab()
    const badId = await app.inject({ method: 'POST', url: '/admin/queue/dead-letters/abc/replay', headers: auth })
    expect(badId.statusCode).toBe(400)
    expect(badId.json().message).toMatch(/params\/entryId must match pattern/)
    const badLimit = await app.inject({ url: '/admin/queue/dead-letters?limit=0', headers: auth })
    expect(badLimit.statusCode).toBe(400)
    expect(badLimit.json().message).toMatch(/limit must be from 1 to 1000/)
    const unknown = await app.inject({ url: '/admin/queue/dead-letters?page=2', headers: auth })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().message).toMatch(/unknown field "page"; allowed: limit, after/)
    expect((await app.inject({ url: '/admin/queue' })).statusCode).toBe(401)
  })

  it('absorbs a redelivery idempotently: a message whose order is already in MySQL is acknowledged without a second row', async () => {
    const { sandbox, app } = await lab()
    const res = await app.inject({ method: 'POST', url: '/orders', payload: { userId: 5, item: 'mouse', quantity: 1, amountCents: 900 } })
    const { state: _s, version: _v, updatedAt: _u, ...fields } = res.json()
    // As if a worker committed this order and crashed before acknowledging it.
    expect(await app.repo.insert(fields as NewOrder)).toBe(true)
    expect(await app.repo.insert(fields as NewOrder)).toBe(false)
    const w = await worker(sandbox)
    await waitFor('the queue to drain', async () => (await depth(app)) === 0)
    expect(await metricValue(w.metrics, 'cachelab_queue_duplicates_total')).toBe(1)
    expect(await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'acked' })).toBe(1)
    expect(await rowsPerId(app, [fields.id])).toEqual({ lost: [], duplicated: [] })
    expect(await countOrders(app)).toBe(1)
  })

  it('holds the queue while MySQL writes are blocked (no dead letters), and drains after', async () => {
    const { sandbox, app } = await lab({ queueRatePerSec: 200 })
    const w = await worker(sandbox, { ...fast, MYSQL_QUERY_TIMEOUT_MS: 300, WORKER_RETRY_BASE_MS: 50, WORKER_RETRY_MAX_MS: 400 })
    const { accepted } = await burst(app, 300)
    await waitFor('the drain to start', async () => (await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'acked' })) >= 20)

    const on = await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-block-writes', params: { operations: ['insert'] } } })
    expect(on.statusCode, on.body).toBe(200)
    const retriedBefore = await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'retried' })
    // A held insert gives up at its deadline: the worker sees it as MySQL failing, not the message.
    await waitFor('a blocked insert to time out', async () => (await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'retried' })) > retriedBefore)
    const rowsBlocked = await countOrders(app)
    await sleep(1000)
    expect(await countOrders(app)).toBe(rowsBlocked)
    // Every accepted order is in MySQL or still in the queue (some may be in both: written, and
    // not yet acknowledged because their insert outlived its deadline; the retry finds the row).
    const held = await app.writeQueue.stats()
    expect(held.depth).toBeGreaterThanOrEqual(accepted.length - rowsBlocked)
    expect(held.depth).toBeGreaterThan(0)
    expect(held.deadLetters).toBe(0)
    expect(w.status().state).toMatch(/backing-off|running/)

    await app.inject({ method: 'DELETE', url: '/admin/chaos/db-block-writes', headers: auth })
    await waitFor('the queue to drain', async () => (await depth(app)) === 0, 30_000)
    expect(await rowsPerId(app, accepted)).toEqual({ lost: [], duplicated: [] })
    expect(await countOrders(app)).toBe(accepted.length)
    expect(await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'dead' })).toBe(0)
  })

  it('stops taking messages while the worker-pause fault is on, and resumes after', async () => {
    const { sandbox, app } = await lab()
    const w = await worker(sandbox)
    await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'worker-pause' } })
    await waitFor('the worker to pause', () => w.status().state === 'paused')
    const { accepted } = await burst(app, 25)
    await sleep(500)
    expect(await depth(app)).toBe(25)
    expect(await metricValue(w.metrics, 'cachelab_queue_messages_total', { result: 'acked' })).toBe(0)
    expect(await metricValue(w.metrics, 'cachelab_chaos_fault_active', { fault: 'worker-pause' })).toBe(1)

    await app.inject({ method: 'DELETE', url: '/admin/chaos/worker-pause', headers: auth })
    await waitFor('the queue to drain', async () => (await depth(app)) === 0)
    expect(await rowsPerId(app, accepted)).toEqual({ lost: [], duplicated: [] })
  })

  it('writes at most burst + rate × T over a window of T seconds, with the rate set through the admin API', async () => {
    const rate = 40
    const { sandbox, app } = await lab({ queueRatePerSec: rate })
    const { accepted, refused } = await burst(app, 300)
    const w = await worker(sandbox, { WORKER_CONCURRENCY: 8 })
    expect(w.status().params.queueRatePerSec).toBe(rate)
    const inserts = () => metricValue(w.metrics, 'cachelab_db_queries_total', { operation: 'insert' })
    await waitFor('the drain to start', async () => (await inserts()) >= 10)

    // Conservative window: from before the first reading to after the last.
    const t0 = performance.now()
    const c0 = await inserts()
    await sleep(3000)
    const c1 = await inserts()
    const seconds = (performance.now() - t0) / 1000
    // The limit bound the whole window: the queue never ran dry.
    expect(await depth(app)).toBeGreaterThan(0)
    const written = c1 - c0
    const bound = maxGrantsIn(rate, seconds)
    console.log(`[rate] ${written} inserts in ${seconds.toFixed(2)} s = ${(written / seconds).toFixed(1)}/s at queueRatePerSec ${rate} (${(written / seconds / rate).toFixed(3)}×); token-bucket bound ${bound.toFixed(1)}`)
    expect(written).toBeGreaterThan(0)
    expect(written).toBeLessThanOrEqual(bound)
    expect(accepted.length + refused.length).toBe(300)
  })
})

describe('the shared token bucket', () => {
  it('never grants more than burst + rate × elapsed, however fast it is asked', async () => {
    const { app } = await lab()
    const bucket = new TokenBucket(app.redis, queueKeys(app.keys).rate)
    const rate = 50
    let granted = 0
    const started = performance.now()
    while (performance.now() - started < 1000) granted += (await bucket.tryTake(rate, 5)).granted
    const seconds = (performance.now() - started) / 1000
    expect(granted).toBeGreaterThanOrEqual(burstFor(rate))
    expect(granted).toBeLessThanOrEqual(maxGrantsIn(rate, seconds))
  })
})
