import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { RedisServer } from '../helpers/redis-server.js'
import { scrape } from '../helpers/scrape.js'

// The redis-pause action pauses the WHOLE Redis server the app talks to: this file gives the app a
// redis-server child of its own, never the shared one. A paused Redis accepts connections and
// answers nothing, so here every cache command costs the full command timeout (unlike a stopped
// one, which refuses at once).
let redis: RedisServer
let sandbox: Sandbox
let app: FastifyInstance
const THRESHOLD = 3

beforeAll(async () => {
  redis = await RedisServer.start()
  sandbox = await createSandbox({ redisUrl: redis.url })
  await sandbox.seed(100)
  app = await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: 200 })
})
afterAll(async () => {
  await app?.close()
  await redis?.stop()
  await sandbox?.drop()
})

async function setAvalanche(mode: string, params: Record<string, unknown> = {}): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { avalanche: { mode, params } } })
  expect(res.statusCode, res.body).toBe(200)
}

async function action(action: string, params: Record<string, unknown> = {}) {
  return app.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action, params } })
}

async function read(id: number): Promise<void> {
  const res = await app.inject(`/orders/${id}`)
  expect(res.statusCode, res.body).toBe(200)
  expect(res.json().id).toBe(String(id))
}

/** Waits until Redis answers the app again (the pause is over). */
async function untilRedisAnswers(): Promise<void> {
  const deadline = Date.now() + 15_000
  while ((await app.inject('/readyz')).json().redis !== 'up') {
    if (Date.now() > deadline) throw new Error('Redis did not answer again within 15 s')
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('redis-pause / redis-unpause actions (CLIENT PAUSE on this file\'s own redis-server)', () => {
  it('all: without protection every read pays a command timeout, and the pause is visible as a metric', async () => {
    await setAvalanche('jitter')
    const before = await scrape(app)
    const res = await action('redis-pause', { ms: 3000, mode: 'all' })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().result).toMatchObject({ paused: 'all', ms: 3000 })
    const reads = 4
    for (let id = 1; id <= reads; id++) await read(id)
    const after = await scrape(app)
    expect(after('cachelab_chaos_fault_active', 'fault="redis-pause"')).toBe(1)
    expect(after('cachelab_redis_errors_total', 'operation="get"') - before('cachelab_redis_errors_total', 'operation="get"')).toBe(reads)
    expect(after('cachelab_cache_lookups_total', 'outcome="error"') - before('cachelab_cache_lookups_total', 'outcome="error"')).toBe(reads)

    // An all pause cannot be ended early (Redis 7 holds CLIENT UNPAUSE behind it): refused clearly.
    const unpause = await action('redis-unpause')
    expect(unpause.statusCode).toBe(400)
    expect(unpause.json()).toMatchObject({ code: 'CACHELAB_INVALID_CHAOS', message: expect.stringContaining('cannot be ended early') })
    await untilRedisAnswers()
  })

  it('all: with protection only breakerThreshold reads pay it; the rest skip Redis until it answers again', async () => {
    await setAvalanche('protected', { breakerThreshold: THRESHOLD, breakerHalfOpenMs: 300 })
    const before = await scrape(app)
    expect((await action('redis-pause', { ms: 3000 })).statusCode).toBe(200)
    const reads = 12
    for (let id = 11; id < 11 + reads; id++) await read(id)
    const paused = await scrape(app)
    // Timeouts stop at the threshold (+ at most one half-open trial per breakerHalfOpenMs); compare to one per read above.
    const timedOut = paused('cachelab_redis_errors_total', 'operation="get"') - before('cachelab_redis_errors_total', 'operation="get"')
    const trials = paused('cachelab_cache_breaker_transitions_total', 'to="half_open"') - before('cachelab_cache_breaker_transitions_total', 'to="half_open"')
    expect(timedOut).toBe(THRESHOLD + trials)
    expect(paused('cachelab_cache_lookups_total', 'outcome="breaker_open"') - before('cachelab_cache_lookups_total', 'outcome="breaker_open"')).toBe(reads - timedOut)
    expect(paused('cachelab_cache_breaker_state')).toBe(1)

    // After the pause the breaker closes by itself on a trial read.
    const deadline = Date.now() + 15_000
    let id = 40
    while ((await scrape(app))('cachelab_cache_breaker_state') !== 0) {
      if (Date.now() > deadline) throw new Error('the breaker did not close within 15 s of the pause')
      await read(id++)
      await new Promise((r) => setTimeout(r, 100))
    }
    expect((await scrape(app))('cachelab_chaos_fault_active', 'fault="redis-pause"')).toBe(0)
  })

  it('write: reads hit until a fill is held, then wait behind it on the same connection; redis-unpause ends it early', async () => {
    await setAvalanche('jitter')
    await read(60) // cached
    const before = await scrape(app)
    expect((await action('redis-pause', { ms: 60_000, mode: 'write' })).statusCode).toBe(200)
    await read(60) // a hit: reads are not paused
    await read(61) // a miss: its fill (a write) times out, the read is answered anyway
    await read(60) // queued behind the held fill on the one connection: times out, answered from MySQL
    const paused = await scrape(app)
    expect(paused('cachelab_cache_lookups_total', 'outcome="hit"') - before('cachelab_cache_lookups_total', 'outcome="hit"')).toBe(1)
    expect(paused('cachelab_cache_fills_total', 'result="error"') - before('cachelab_cache_fills_total', 'result="error"')).toBe(1)
    expect(paused('cachelab_cache_lookups_total', 'outcome="error"') - before('cachelab_cache_lookups_total', 'outcome="error"')).toBe(1)

    const res = await action('redis-unpause')
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().result).toEqual({ unpaused: true })
    await read(62)
    const after = await scrape(app)
    expect(after('cachelab_cache_fills_total', 'result="ok"') - paused('cachelab_cache_fills_total', 'result="ok"')).toBe(1)
    expect(after('cachelab_chaos_fault_active', 'fault="redis-pause"')).toBe(0)
  })

  it('refuses bad parameters with a message naming them', async () => {
    const res = await action('redis-pause', { ms: 0 })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toBe('redis-pause: ms must be >= 1')
    const mode = await action('redis-pause', { mode: 'read' })
    expect(mode.statusCode).toBe(400)
    expect(mode.json().message).toBe('redis-pause: mode must be one of "all", "write"')
  })
})
