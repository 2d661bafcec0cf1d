import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { MariadbServer } from '../helpers/mariadb-server.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'
import { expectSurvived, runFault } from './harness.js'

// MySQL faults under light load, against this file's own mariadbd, reached through a TCP proxy for
// the mid-stream faults; the shared MariaDB is never stopped or blocked. Redis is the shared one,
// under a key prefix of this file's own: nothing is done to it.
const REDIS_TIMEOUT_MS = 200
const MYSQL_TIMEOUT_MS = 800
const QUEUE_LIMIT = 50
// Longest path of a request: cache read, MySQL (pool wait included), cache fill; plus slack for a
// busy 2-core machine. A correctness bound (nothing waits unbounded), not a speed claim.
const BOUND_MS = 2 * REDIS_TIMEOUT_MS + MYSQL_TIMEOUT_MS + 2000
const SEEDED = 100
const RECOVERY_LIMIT_MS = 10_000
/** What expectSurvived holds every fault run to. */
const BOUNDS = { slowestMs: BOUND_MS, mysqlWaiting: QUEUE_LIMIT }

let mariadb: MariadbServer
let proxy: TcpProxy
let sandbox: Sandbox
let app: FastifyInstance
let baseUrl: string

beforeAll(async () => {
  mariadb = await MariadbServer.start()
  proxy = await TcpProxy.start({ port: mariadb.port })
  sandbox = await createSandbox({ mysqlBase: `mysql://root@127.0.0.1:${proxy.port}/test` })
  await sandbox.seed(SEEDED + 300)
  app = await build(sandbox, {
    REDIS_COMMAND_TIMEOUT_MS: REDIS_TIMEOUT_MS,
    MYSQL_QUERY_TIMEOUT_MS: MYSQL_TIMEOUT_MS,
    MYSQL_CONNECT_TIMEOUT_MS: 500,
    // Fewer connections than clients: a stall fills the pool and the wait queue comes into play.
    MYSQL_POOL_SIZE: 3,
    MYSQL_QUEUE_LIMIT: QUEUE_LIMIT,
  })
  baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })
}, 90_000)
afterAll(async () => {
  try {
    await app?.close()
    await proxy?.close()
    await sandbox?.drop().catch(() => {})
  } finally {
    await mariadb?.destroy()
  }
})

/** Drops the cached orders: during the fault, reads miss and must reach MySQL too. */
async function flushCache(): Promise<void> {
  expect((await app.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })).statusCode).toBe(200)
}

describe('MySQL faults under light load', () => {
  it('MariaDB killed (SIGKILL) and restarted: no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'mariadb killed (SIGKILL) and restarted',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'mysql-kill',
      holdMs: 2000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => {
        await flushCache()
        await mariadb.stop()
      },
      clear: () => mariadb.startProcess(),
    })
    expectSurvived(run, BOUNDS)
  })

  it('MySQL writes blocked (db-block-writes): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'mysql writes blocked (db-block-writes)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'mysql-block',
      holdMs: 2000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => {
        await flushCache()
        expect((await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-block-writes' } })).statusCode).toBe(200)
      },
      clear: async () => void expect((await app.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })).statusCode).toBe(200),
    })
    expectSurvived(run, BOUNDS)
    // Held writes give up before they are sent: every refusal is a clean "not written".
    expect(run.audit.refused).toBeGreaterThan(0)
  })

  it('MySQL connections stalled mid-stream (proxy holds every byte): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'mysql connections stalled (proxy)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'mysql-stall',
      holdMs: 2000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => {
        await flushCache()
        proxy.stall()
      },
      clear: async () => proxy.resume(),
    })
    expectSurvived(run, BOUNDS)
  })

  it('MySQL connections reset mid-stream and refused for a while (proxy): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'mysql connections reset (proxy)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'mysql-reset',
      holdMs: 2000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => {
        await flushCache()
        proxy.reset({ refuse: true })
      },
      clear: async () => proxy.accept(),
    })
    expectSurvived(run, BOUNDS)
  })

  it('MySQL connections black-holed (silent for good, new ones fine): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'mysql connections black-holed (proxy)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'mysql-blackhole',
      holdMs: 1000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => {
        await flushCache()
        proxy.blackhole()
      },
      // Nothing to clear: the dead connections stay dead; the service must notice by itself.
      clear: async () => {},
    })
    expectSurvived(run, BOUNDS)
  })

  it('MySQL latency beyond the query timeout (proxy delays every packet): no hang past the timeout, well-formed answers, no order lost or duplicated, queues bounded, recovers by itself', async () => {
    const run = await runFault({
      name: 'mysql latency 1.5 x the query timeout (proxy)',
      app,
      baseUrl,
      seeded: SEEDED,
      tag: 'mysql-latency',
      holdMs: 2000,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      inject: async () => {
        await flushCache()
        proxy.latency(1.5 * MYSQL_TIMEOUT_MS)
      },
      clear: async () => proxy.latency(0),
    })
    expectSurvived(run, BOUNDS)
  })
})
