import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, countOrders, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'

let sandbox: Sandbox
let app: FastifyInstance

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(10)
  app = await build(sandbox, { BODY_LIMIT_BYTES: 1024 })
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

const valid = { userId: 1, item: 'mouse', quantity: 1, amountCents: 100 }

describe('bad ids get a 400 with a message', () => {
  for (const id of ['abc', '0', '-1', '1.5', '01', '99999999999999999999', '9223372036854775808', '1e3', '%20']) {
    it(`GET /orders/${id}`, async () => {
      const res = await app.inject(`/orders/${id}`)
      expect(res.statusCode).toBe(400)
      expect(res.json().message).toMatch(/params\/id/)
    })
  }
})

describe('bad bodies get a 4xx with a message and write nothing', () => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown field', { ...valid, foo: 1 }, /unknown field "foo"; allowed: userId, item, quantity, amountCents, status/],
    ['negative quantity', { ...valid, quantity: -1 }, /body\/quantity must be >= 1/],
    ['negative amount', { ...valid, amountCents: -5 }, /body\/amountCents must be >= 0/],
    ['quantity as a string', { ...valid, quantity: '2' }, /body\/quantity must be integer/],
    ['missing item', { userId: 1, quantity: 1, amountCents: 1 }, /must have required property 'item'/],
    ['unknown status', { ...valid, status: 'lost' }, /body\/status must be one of "pending", "paid", "shipped", "cancelled"/],
    ['an array', [valid], /body must be object/],
    ['fractional amount', { ...valid, amountCents: 1.5 }, /body\/amountCents must be integer/],
    ['empty item', { ...valid, item: '' }, /body\/item must NOT have fewer than 1 characters/],
  ]
  for (const [name, payload, message] of cases) {
    it(`POST /orders: ${name}`, async () => {
      const before = await countOrders(app)
      const res = await app.inject({ method: 'POST', url: '/orders', payload: payload as object })
      expect(res.statusCode).toBe(400)
      expect(res.json().message).toMatch(message)
      expect(await countOrders(app)).toBe(before)
    })
  }

  it('POST /orders: an oversized body gets 413', async () => {
    const res = await app.inject({ method: 'POST', url: '/orders', payload: { ...valid, item: 'x'.repeat(5000) } })
    expect(res.statusCode).toBe(413)
    expect(res.json().message).toMatch(/too large/i)
  })

  it('POST /orders: malformed JSON gets 400', async () => {
    const res = await app.inject({ method: 'POST', url: '/orders', headers: { 'content-type': 'application/json' }, payload: '{"userId":' })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toBeTruthy()
  })

  it('PUT /orders/:id: an empty patch, an unknown field and a wrong type are refused; nothing changes', async () => {
    const before = (await app.inject('/orders/3')).json()
    for (const [payload, message] of [
      [{}, /must NOT have fewer than 1 properties/],
      [{ version: 9 }, /unknown field "version"/],
      [{ quantity: 'many' }, /body\/quantity must be integer/],
    ] as const) {
      const res = await app.inject({ method: 'PUT', url: '/orders/3', payload })
      expect(res.statusCode).toBe(400)
      expect(res.json().message).toMatch(message)
    }
    const [rows] = await app.mysql.query('SELECT version FROM orders WHERE id = 3')
    expect((rows as { version: number }[])[0]!.version).toBe(before.version)
  })
})

describe('admin input', () => {
  it('refuses calls without a token, or with a wrong one, with 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: 'Basic abc' }]) {
      const res = await app.inject({ method: 'GET', url: '/admin/strategies', headers })
      expect(res.statusCode).toBe(401)
      expect(res.json().message).toMatch(/admin API/)
    }
  })

  const strategyCases: [string, unknown, RegExp][] = [
    ['unknown family', { caching: { mode: 'x' } }, /unknown field "caching"; allowed: penetration, breakdown, avalanche, consistency, writes/],
    ['unknown mode', { penetration: { mode: 'magic' } }, /body\/penetration\/mode must be one of "none"/],
    ['unknown parameter', { avalanche: { params: { ttl: 5 } } }, /unknown field "ttl"; allowed: ttlSeconds, jitterFraction/],
    ['out of range', { avalanche: { params: { ttlSeconds: 0 } } }, /body\/avalanche\/params\/ttlSeconds must be >= 1/],
    ['wrong type', { penetration: { params: { bloomFpRate: 'low' } } }, /body\/penetration\/params\/bloomFpRate must be number/],
    ['empty body', {}, /must NOT have fewer than 1 properties/],
  ]
  for (const [name, payload, message] of strategyCases) {
    it(`PUT /admin/strategies: ${name}`, async () => {
      const res = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: payload as object })
      expect(res.statusCode).toBe(400)
      expect(res.json().message).toMatch(message)
      expect(app.strategies.current().avalanche.params.ttlSeconds).toBe(300)
    })
  }

  const chaosCases: [string, unknown, RegExp][] = [
    ['unknown fault', { fault: 'meteor' }, /body\/fault must be one of "db-latency"/],
    ['unknown parameter', { fault: 'db-latency', params: { delay: 5 } }, /db-latency: unknown parameter delay; allowed: ms, operations/],
    ['out of range', { fault: 'db-latency', params: { ms: 0 } }, /db-latency: ms must be >= 1/],
    ['bad duration', { fault: 'db-latency', durationSeconds: -1 }, /body\/durationSeconds must be >= 1/],
  ]
  for (const [name, payload, message] of chaosCases) {
    it(`POST /admin/chaos: ${name}`, async () => {
      const res = await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: payload as object })
      expect(res.statusCode).toBe(400)
      expect(res.json().message).toMatch(message)
      expect(app.chaos.list()).toEqual([])
    })
  }

  it('DELETE /admin/chaos/:fault with an unknown fault is a 400 naming the allowed ones', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/admin/chaos/meteor', headers: auth })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(/params\/fault must be one of "db-latency"/)
  })
})
