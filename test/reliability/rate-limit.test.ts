import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, countOrders, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'

// The optional rate limit of the public routes (RATE_LIMIT_MAX): off by default, and when on it
// limits the order routes per client, with a 429 that says so, and leaves probes, metrics and the
// admin API alone.
const MAX = 5
let sandbox: Sandbox
let limited: FastifyInstance
let open: FastifyInstance

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(5)
  limited = await build(sandbox, { RATE_LIMIT_MAX: MAX, RATE_LIMIT_WINDOW_MS: 60_000 })
  open = await build(sandbox)
})
afterAll(async () => {
  await limited?.close()
  await open?.close()
  await sandbox?.drop()
})

describe('rate limit of the public routes', () => {
  it('off by default: many more requests than any limit all succeed', async () => {
    for (let i = 0; i < 4 * MAX; i++) expect((await open.inject('/orders/1')).statusCode).toBe(200)
  })

  it('on: after RATE_LIMIT_MAX requests in the window a client gets 429 with a message and Retry-After; a refused write writes nothing', async () => {
    const statuses: number[] = []
    for (let i = 0; i < MAX; i++) statuses.push((await limited.inject({ url: '/orders/1', remoteAddress: '10.0.0.1' })).statusCode)
    expect(statuses).toEqual(Array(MAX).fill(200))
    const read = await limited.inject({ url: '/orders/1', remoteAddress: '10.0.0.1' })
    expect(read.statusCode).toBe(429)
    expect(read.headers['retry-after']).toBeDefined()
    expect(read.json()).toMatchObject({ code: 'CACHELAB_RATE_LIMITED', error: 'Too Many Requests', message: expect.stringMatching(/rate limit .*\(5 requests per 60000 ms per client\)/) })
    const before = await countOrders(limited)
    const write = await limited.inject({ method: 'POST', url: '/orders', remoteAddress: '10.0.0.1', payload: { userId: 1, item: 'x', quantity: 1, amountCents: 1 } })
    expect(write.statusCode).toBe(429)
    expect(await countOrders(limited)).toBe(before)
  })

  it('on: counted per client, and never applied to health, metrics or the admin API', async () => {
    expect((await limited.inject({ url: '/orders/2', remoteAddress: '10.0.0.2' })).statusCode).toBe(200)
    for (let i = 0; i < 3 * MAX; i++) {
      expect((await limited.inject({ url: '/healthz', remoteAddress: '10.0.0.1' })).statusCode).toBe(200)
      expect((await limited.inject({ url: '/metrics', remoteAddress: '10.0.0.1' })).statusCode).toBe(200)
      expect((await limited.inject({ url: '/admin/strategies', headers: auth, remoteAddress: '10.0.0.1' })).statusCode).toBe(200)
    }
  })
})
