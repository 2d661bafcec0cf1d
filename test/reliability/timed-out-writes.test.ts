import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'

// A write that answered 503 must not land in MySQL afterwards (a ghost order the client was told
// had failed). Before the fix, db-latency slept its full `ms` whatever the deadline and the insert
// then ran, and an insert that waited for a pool connection past its deadline ran once it got one.
const TIMEOUT_MS = 300
const SLACK_MS = 1500
let sandbox: Sandbox
let app: FastifyInstance

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(5)
  app = await build(sandbox, { MYSQL_QUERY_TIMEOUT_MS: TIMEOUT_MS, MYSQL_POOL_SIZE: 1 })
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

async function rowsWithItem(item: string): Promise<number> {
  const [rows] = await app.mysql.query('SELECT COUNT(*) AS n FROM orders WHERE item = ?', [item])
  return Number((rows as { n: number }[])[0]!.n)
}

async function post(item: string) {
  const started = performance.now()
  const res = await app.inject({ method: 'POST', url: '/orders', payload: { userId: 1, item, quantity: 1, amountCents: 1 } })
  return { res, ms: performance.now() - started }
}

describe('a write that timed out is never run afterwards', () => {
  it('db-latency longer than the deadline: 503 within the deadline, and the insert never lands', async () => {
    const latency = 3 * TIMEOUT_MS
    const on = await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-latency', params: { ms: latency, operations: ['insert'] } } })
    expect(on.statusCode).toBe(200)
    try {
      const { res, ms } = await post('ghost-latency')
      expect(res.statusCode).toBe(503)
      // Never sent: "not written" is the honest answer, not "maybe".
      expect(res.json()).toMatchObject({ code: 'CACHELAB_DB_TIMEOUT', message: expect.stringMatching(/did not answer within 300 ms/) })
      expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
      await sleep(latency + 500)
      expect(await rowsWithItem('ghost-latency')).toBe(0)
    } finally {
      await app.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })
    }
    // And the pool connection the fault held was given back: writes work again.
    expect((await post('after-latency')).res.statusCode).toBe(201)
  })

  it('an insert stuck waiting for a pool connection past its deadline is dropped, not run late', async () => {
    const held = await app.mysql.getConnection() // the pool's only connection
    let res
    try {
      ;({ res } = await post('ghost-pool-wait'))
    } finally {
      held.release()
    }
    expect(res.statusCode).toBe(503)
    expect(res.json().code).toBe('CACHELAB_DB_TIMEOUT')
    await sleep(300)
    expect(await rowsWithItem('ghost-pool-wait')).toBe(0)
    expect((await post('after-pool-wait')).res.statusCode).toBe(201)
  })

  it('db-block-writes cleared after the deadline: the held insert is not released into MySQL', async () => {
    await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-block-writes' } })
    let res
    try {
      ;({ res } = await post('ghost-blocked'))
    } finally {
      await app.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })
    }
    expect(res.statusCode).toBe(503)
    expect(res.json().code).toBe('CACHELAB_DB_TIMEOUT')
    await sleep(300)
    expect(await rowsWithItem('ghost-blocked')).toBe(0)
  })
})
