import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { RedisServer } from '../helpers/redis-server.js'
import { scrape } from '../helpers/scrape.js'

// This file stops and restarts Redis: it runs its own redis-server child, never the shared one.
// The child keeps its data across the restart (as a Redis with persistence would), so the
// strategy state stored in it survives and the same breaker is watched closing.
let redis: RedisServer
let sandbox: Sandbox
let app: FastifyInstance
const THRESHOLD = 3
const HALF_OPEN_MS = 500

const BREAKER_OPEN = 1
const BREAKER_CLOSED = 0

beforeAll(async () => {
  redis = await RedisServer.start({ keepData: true })
  sandbox = await createSandbox({ redisUrl: redis.url })
  await sandbox.seed(100)
  app = await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: 200 })
  const res = await app.inject({
    method: 'PUT',
    url: '/admin/strategies',
    headers: auth,
    payload: { avalanche: { mode: 'protected', params: { breakerThreshold: THRESHOLD, breakerHalfOpenMs: HALF_OPEN_MS } } },
  })
  expect(res.statusCode, res.body).toBe(200)
})
afterAll(async () => {
  await app?.close()
  await redis?.stop()
  await sandbox?.drop()
})

async function read(id: number): Promise<void> {
  const res = await app.inject(`/orders/${id}`)
  expect(res.statusCode, res.body).toBe(200)
  expect(res.json().id).toBe(String(id))
}

describe('circuit breaker on Redis (avalanche protected), against a stopped and restarted redis-server', () => {
  it('opens after breakerThreshold consecutive failures; later reads skip Redis (no command, no timeout) and are answered from MySQL', async () => {
    for (const id of [1, 2, 3]) await read(id)
    const warm = await scrape(app)
    for (const id of [1, 2, 3]) await read(id)
    expect((await scrape(app))('cachelab_cache_lookups_total', 'outcome="hit"') - warm('cachelab_cache_lookups_total', 'outcome="hit"')).toBe(3)
    expect(warm('cachelab_cache_breaker_state')).toBe(BREAKER_CLOSED)

    await redis.stop()
    const before = await scrape(app)
    const reads = 20
    for (let id = 1; id <= reads; id++) await read(id)
    const after = await scrape(app)
    const delta = (name: string, labels?: string) => after(name, labels) - before(name, labels)

    // Only the first THRESHOLD reads tried Redis; the rest never sent a command.
    expect(delta('cachelab_redis_errors_total', 'operation="get"')).toBe(THRESHOLD)
    expect(delta('cachelab_cache_lookups_total', 'outcome="error"')).toBe(THRESHOLD)
    expect(delta('cachelab_cache_lookups_total', 'outcome="breaker_open"')).toBe(reads - THRESHOLD)
    expect(delta('cachelab_db_queries_total', 'operation="select"')).toBe(reads)
    // No fill was attempted either (reads without the cache never fill).
    expect(delta('cachelab_redis_errors_total', 'operation="set"')).toBe(0)
    expect(after('cachelab_cache_breaker_state')).toBe(BREAKER_OPEN)
    expect(delta('cachelab_cache_breaker_transitions_total', 'to="open"')).toBe(1)
  })

  it('after breakerHalfOpenMs one read is a trial; with Redis still down it fails and the breaker opens again', async () => {
    await new Promise((r) => setTimeout(r, HALF_OPEN_MS + 100))
    const before = await scrape(app)
    await read(21)
    await read(22)
    const after = await scrape(app)
    const delta = (name: string, labels?: string) => after(name, labels) - before(name, labels)
    expect(delta('cachelab_cache_breaker_transitions_total', 'to="half_open"')).toBe(1)
    expect(delta('cachelab_cache_breaker_transitions_total', 'to="open"')).toBe(1)
    expect(delta('cachelab_redis_errors_total', 'operation="get"')).toBe(1)
    expect(delta('cachelab_cache_lookups_total', 'outcome="breaker_open"')).toBe(1)
    expect(after('cachelab_cache_breaker_state')).toBe(BREAKER_OPEN)
  })

  it('closes by itself once Redis is back, and reads return to the cache', async () => {
    const before = await scrape(app)
    await redis.startProcess()
    const deadline = Date.now() + 15_000
    // The client reconnects with capped backoff (at most 2 s); each failed trial re-opens for HALF_OPEN_MS.
    let id = 30
    while ((await scrape(app))('cachelab_cache_breaker_state') !== BREAKER_CLOSED) {
      if (Date.now() > deadline) throw new Error('the breaker did not close within 15 s of Redis coming back')
      await read(id++)
      await new Promise((r) => setTimeout(r, 100))
    }
    const closed = await scrape(app)
    expect(closed('cachelab_cache_breaker_transitions_total', 'to="closed"') - before('cachelab_cache_breaker_transitions_total', 'to="closed"')).toBe(1)
    // The same protected instance closed (the mode was not switched under the test's feet).
    expect(app.strategies.current().avalanche.mode).toBe('protected')

    await read(90) // miss: loaded and filled
    await read(90) // hit
    const after = await scrape(app)
    expect(after('cachelab_cache_lookups_total', 'outcome="hit"') - closed('cachelab_cache_lookups_total', 'outcome="hit"')).toBe(1)
    expect(after('cachelab_cache_fills_total', 'result="ok"') - closed('cachelab_cache_fills_total', 'result="ok"')).toBe(1)
    expect(after('cachelab_cache_lookups_total', 'outcome="breaker_open"')).toBe(closed('cachelab_cache_lookups_total', 'outcome="breaker_open"'))
  })
})
