import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { jitterRange } from '../../services/order-service/src/strategies/avalanche/ttl.js'

// The shared Redis is fine here: the action only touches keys under this sandbox's prefix.
let sandbox: Sandbox
let app: FastifyInstance
const ORDERS = 300

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(ORDERS)
  app = await build(sandbox)
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

async function setAvalanche(mode: string, params: Record<string, unknown> = {}): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { avalanche: { mode, params } } })
  expect(res.statusCode, res.body).toBe(200)
}

async function warmAll(): Promise<void> {
  await app.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })
  const res = await app.inject({ method: 'POST', url: '/admin/cache/warm', headers: auth, payload: { from: 1, count: ORDERS } })
  expect(res.json()).toEqual({ warmed: ORDERS, missing: 0 })
}

const orderKeys = () => Array.from({ length: ORDERS }, (_, i) => app.keys.order(String(i + 1)))

async function perKey<T>(cmd: (p: ReturnType<FastifyInstance['redis']['pipeline']>, key: string) => void): Promise<T[]> {
  const p = app.redis.pipeline()
  for (const key of orderKeys()) cmd(p, key)
  return ((await p.exec()) ?? []).map(([err, v]) => {
    if (err) throw err
    return v as T
  })
}

describe('warm-up and TTL policy', () => {
  it('fixed-ttl: warmed keys all expire within the same second', async () => {
    await setAvalanche('fixed-ttl', { ttlSeconds: 120 })
    await warmAll()
    const expireAt = await perKey<number>((p, k) => p.pexpiretime(k))
    const seconds = new Set(expireAt.map((ms) => Math.floor(ms / 1000)))
    expect(seconds.size).toBeLessThanOrEqual(2) // the warm-up may straddle a second boundary
  })

  it('jitter: warmed keys spread their expiry over base ± fraction', async () => {
    const params = { ttlSeconds: 100, jitterFraction: 0.5, minTtlSeconds: 1 }
    await setAvalanche('jitter', params)
    await warmAll()
    const ttls = await perKey<number>((p, k) => p.ttl(k))
    const { lo, hi } = jitterRange(params)
    // TTL counts down: a key set a moment ago may already read one second less.
    expect(Math.min(...ttls)).toBeGreaterThanOrEqual(lo - 1)
    expect(Math.max(...ttls)).toBeLessThanOrEqual(hi)
    // 300 uniform draws over 101 values: most of the range is used (≈ 96 values on average).
    expect(new Set(ttls).size).toBeGreaterThan((hi - lo + 1) / 2)
  })
})

describe('mass-expiry action', () => {
  it('makes every cached order expire at one instant, and only those keys', async () => {
    await setAvalanche('jitter', { ttlSeconds: 300, jitterFraction: 0.5 })
    await warmAll()
    const other = app.keys.named('not-an-order')
    await app.redis.set(other, 'x', 'EX', 600)

    const res = await app.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action: 'mass-expiry', params: { inMs: 1500 } } })
    expect(res.statusCode, res.body).toBe(200)
    const { keys, expiresAtMs, expiresAt } = res.json().result
    expect(keys).toBe(ORDERS)
    expect(new Date(expiresAt).getTime()).toBe(expiresAtMs)
    // Every order key now expires at exactly that millisecond (PEXPIRETIME, Redis 7).
    expect(new Set(await perKey<number>((p, k) => p.pexpiretime(k)))).toEqual(new Set([expiresAtMs]))
    expect(await app.redis.ttl(other)).toBeGreaterThan(300)
    expect((await perKey<number>((p, k) => p.exists(k))).every((n) => n === 1)).toBe(true)

    // Past the instant (by Redis's clock), they are gone, all of them.
    for (;;) {
      const [s, us] = await app.redis.time()
      if (Number(s) * 1000 + Number(us) / 1000 > expiresAtMs) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect((await perKey<number>((p, k) => p.exists(k))).every((n) => n === 0)).toBe(true)
    expect(await app.redis.exists(other)).toBe(1)
  })

  it('inMs 0 expires them at once; bad parameters are refused with the allowed range', async () => {
    await warmAll()
    const res = await app.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action: 'mass-expiry', params: { inMs: 0 } } })
    expect(res.json().result.keys).toBe(ORDERS)
    expect((await perKey<number>((p, k) => p.exists(k))).every((n) => n === 0)).toBe(true)

    const bad = await app.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action: 'mass-expiry', params: { inMs: -1 } } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ code: 'CACHELAB_INVALID_CHAOS', message: expect.stringMatching(/mass-expiry: inMs .*0/) })
    const unknown = await app.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action: 'mass-expiry', params: { at: 5 } } })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().message).toMatch(/unknown parameter at; allowed: inMs/)
  })
})
