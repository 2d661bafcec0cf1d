import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { RedisServer } from '../helpers/redis-server.js'

// This file stops Redis: it runs its own redis-server child, never the machine's shared one.
let redis: RedisServer
let sandbox: Sandbox
let app: FastifyInstance
const COMMAND_TIMEOUT_MS = 200

async function lookups(outcome: string): Promise<number> {
  const line = (await app.inject('/metrics')).body.split('\n').find((l) => l.startsWith(`cachelab_cache_lookups_total{outcome="${outcome}"}`))
  return line ? Number(line.split(' ').pop()) : 0
}

beforeAll(async () => {
  redis = await RedisServer.start()
  sandbox = await createSandbox({ redisUrl: redis.url })
  await sandbox.seed(20)
  app = await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: COMMAND_TIMEOUT_MS })
})
afterAll(async () => {
  await app?.close()
  await redis?.stop()
  await sandbox?.drop()
})

describe('Redis goes away and comes back', () => {
  it('reads keep answering from MySQL while Redis is down, each within the command timeout', async () => {
    expect((await app.inject('/orders/1')).statusCode).toBe(200)
    expect(await lookups('hit')).toBe(0)
    expect((await app.inject('/orders/1')).statusCode).toBe(200)
    expect(await lookups('hit')).toBe(1)

    await redis.stop()
    const errorsBefore = await lookups('error')
    for (const id of ['1', '2', '3']) {
      const started = performance.now()
      const res = await app.inject(`/orders/${id}`)
      const took = performance.now() - started
      expect(res.statusCode).toBe(200)
      expect(res.json().id).toBe(id)
      // Not a speed claim: the property is "bounded by the configured timeout", with slack for a busy CI.
      expect(took).toBeLessThan(COMMAND_TIMEOUT_MS + 1000)
    }
    expect(await lookups('error')).toBe(errorsBefore + 3)
    const ready = (await app.inject('/readyz')).json()
    expect(ready).toEqual({ status: 'degraded', redis: 'down', mysql: 'up' })
  })

  it('returns to the cache by itself once Redis is back', async () => {
    await redis.startProcess()
    const deadline = Date.now() + 10_000
    // The client reconnects with capped backoff (at most 2 s between tries).
    while ((await app.inject('/readyz')).json().redis !== 'up') {
      if (Date.now() > deadline) throw new Error('the service did not reconnect to Redis within 10 s')
      await new Promise((r) => setTimeout(r, 100))
    }
    const hits = await lookups('hit')
    expect((await app.inject('/orders/4')).statusCode).toBe(200) // miss → fill
    expect((await app.inject('/orders/4')).statusCode).toBe(200) // hit
    expect(await lookups('hit')).toBe(hits + 1)
  })
})
