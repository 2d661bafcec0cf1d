import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { RedisServer } from '../helpers/redis-server.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'
import { socketTimeoutFor } from '../../services/order-service/src/redis.js'
import { expectSurvived, runFault } from './harness.js'

// Redis faults under light load, against this file's own redis-server (behind a TCP proxy for the
// mid-stream faults); the shared Redis is never paused or stopped. MySQL is the shared one, in a
// database of this file's own: nothing is done to it.
const REDIS_TIMEOUT_MS = 200
const MYSQL_TIMEOUT_MS = 1000
// Longest path of a request: cache read, MySQL, cache fill. Slack for a busy 2-core machine: the
// bound is a correctness property (nothing waits unbounded), not a speed claim.
const BOUND_MS = 2 * REDIS_TIMEOUT_MS + MYSQL_TIMEOUT_MS + 2000
const SEEDED = 100
// Commands sent and not answered at most (REDIS_MAX_PENDING): without the cap a 3 s stall at this
// light load left ~850 of them queued, and the count grows with load and with the stall.
const MAX_PENDING = 20
// Reconnect backoff is capped at 2 s; plus a probe round.
const RECOVERY_LIMIT_MS = 8000
const MYSQL_QUEUE_LIMIT = 100
/** What expectSurvived holds every fault run to. */
const BOUNDS = { slowestMs: BOUND_MS, mysqlWaiting: MYSQL_QUEUE_LIMIT, redisPending: MAX_PENDING }

let redis: RedisServer
let proxy: TcpProxy
let sandbox: Sandbox
let app: FastifyInstance
let baseUrl: string

beforeAll(async () => {
  redis = await RedisServer.start()
  proxy = await TcpProxy.start({ port: redis.port })
  sandbox = await createSandbox({ redisUrl: `redis://127.0.0.1:${proxy.port}` })
  await sandbox.seed(SEEDED + 300)
  app = await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: REDIS_TIMEOUT_MS, MYSQL_QUERY_TIMEOUT_MS: MYSQL_TIMEOUT_MS, MYSQL_QUEUE_LIMIT, REDIS_MAX_PENDING: MAX_PENDING })
  baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })
})
afterAll(async () => {
  await app?.close()
  await proxy?.close()
  await redis?.stop()
  await sandbox?.drop()
})

function admin(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
  c.on('error', () => {})
  return c
}

describe('Redis faults under light load', () => {
  it('Redis killed and restarted: no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'redis killed (SIGKILL) and restarted',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'redis-kill',
      holdMs: 2000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: () => redis.stop(),
      clear: () => redis.startProcess(),
    })
    expectSurvived(run, BOUNDS)
  })

  it('Redis paused (CLIENT PAUSE ALL): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const control = admin()
    try {
      const run = await runFault({
        name: 'redis paused (CLIENT PAUSE ALL)',
        app,
        baseUrl,
        seeded: SEEDED,
        tag: 'redis-pause',
        holdMs: 2000,
        recoveryLimitMs: RECOVERY_LIMIT_MS,
        // CLIENT PAUSE ALL blocks CLIENT UNPAUSE too: the pause is set for the hold time and ends by
        // itself; clear() returns once the server answers again.
        inject: async () => void (await control.call('CLIENT', 'PAUSE', '2000', 'ALL')),
        clear: async () => void (await control.ping()),
      })
      expectSurvived(run, BOUNDS)
      expect(run.queues.redisPending).toBeLessThanOrEqual(MAX_PENDING)
    } finally {
      control.disconnect()
    }
  })

  it('Redis connection stalled mid-stream (proxy holds every byte): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'redis connection stalled (proxy)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'redis-stall',
      holdMs: 3000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => proxy.stall(),
      clear: async () => proxy.resume(),
    })
    expectSurvived(run, BOUNDS)
    // The cap is what bounded it: the stall filled the queue up to it (the rest failed at once).
    expect(run.queues.redisPending).toBe(MAX_PENDING)
    expect(run.queues.redisPending).toBeLessThanOrEqual(MAX_PENDING)
  })

  it('Redis connections reset mid-stream and refused for a while (proxy): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'redis connections reset (proxy)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'redis-reset',
      holdMs: 2000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => proxy.reset({ refuse: true }),
      clear: async () => proxy.accept(),
    })
    expectSurvived(run, BOUNDS)
  })

  it('Redis connections black-holed (silent for good, new ones fine): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'redis connections black-holed (proxy)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'redis-blackhole',
      holdMs: 1000,
      // The silent connection is dropped after socketTimeoutFor(REDIS_TIMEOUT_MS) = 5 s, then the
      // client reconnects (backoff at most 2 s).
      recoveryLimitMs: socketTimeoutFor(REDIS_TIMEOUT_MS) + RECOVERY_LIMIT_MS,
      inject: async () => proxy.blackhole(),
      // Nothing to clear: the dead connection stays dead; the client must notice by itself.
      clear: async () => {},
    })
    expectSurvived(run, BOUNDS)
  })
})
