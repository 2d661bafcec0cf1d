import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { freePort } from '../helpers/free-port.js'

// MySQL unreachable: an app whose MYSQL_URL points at a port where nothing listens (connection
// refused, as after a crash). The shared MariaDB is never stopped.
let sandbox: Sandbox
let app: FastifyInstance
let deadUrl: string

beforeAll(async () => {
  sandbox = await createSandbox()
  deadUrl = `mysql://root@127.0.0.1:${await freePort()}/nowhere`
  app = await build(sandbox, { MYSQL_URL: deadUrl, MYSQL_CONNECT_TIMEOUT_MS: 500 })
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

describe('MySQL unreachable', () => {
  it('still serves cache hits', async () => {
    const cached = JSON.stringify({ id: '5', userId: 1, item: 'mouse', quantity: 1, amountCents: 100, status: 'paid', version: 3, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' })
    await app.redis.set(app.keys.order('5'), cached, 'EX', 60)
    const res = await app.inject('/orders/5')
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe(cached)
  })

  it('answers a miss with a prompt 503, a clear message and Retry-After', async () => {
    const res = await app.inject('/orders/6')
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('1')
    expect(res.json()).toMatchObject({ code: 'CACHELAB_DB_UNAVAILABLE', message: expect.stringMatching(/^database unavailable/) })
  })

  it('refuses writes with 503 too, and reports MySQL down on /readyz', async () => {
    const res = await app.inject({ method: 'POST', url: '/orders', payload: { userId: 1, item: 'x', quantity: 1, amountCents: 1 } })
    expect(res.statusCode).toBe(503)
    expect((await app.inject('/readyz')).json()).toEqual({ status: 'degraded', redis: 'up', mysql: 'down' })
  })
})
