import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeEntry } from '../../services/order-service/src/cache/codec.js'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { metric, snapshot } from '../helpers/metrics.js'
import { PATIENT_TIMEOUTS, applyStrategies } from '../helpers/strategy-state.js'

let sandbox: Sandbox
let app: FastifyInstance

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(200)
  app = await build(sandbox, PATIENT_TIMEOUTS)
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

const selects = () => metric(app, 'cachelab_db_queries_total', { operation: 'select' })
const lookups = (outcome: string) => metric(app, 'cachelab_cache_lookups_total', { outcome })
const action = (name: string, params: Record<string, unknown>) => app.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action: name, params } })

// The contract every breakdown mode keeps, whatever it does under load: the read path answers
// correctly, byte for byte, and each mode's fills, warm-up and invalidation work with its encoding.
describe.each(MODES.breakdown.map((m) => m.name))('breakdown mode %s: the read path contract', (mode) => {
  // Ids of their own per mode: 10 modes apart, nothing is shared between the blocks.
  const base = 100 + MODES.breakdown.findIndex((m) => m.name === mode) * 10
  const id = (n: number) => String(base + n)

  it('a miss loads once and fills; the next read is a hit with the same bytes', async () => {
    await applyStrategies([app], { breakdown: { mode } })
    const s = await snapshot({ selects, hits: () => lookups('hit'), misses: () => lookups('miss') })
    const first = await app.inject(`/orders/${id(1)}`)
    expect(first.statusCode).toBe(200)
    expect(first.json().id).toBe(id(1))
    const second = await app.inject(`/orders/${id(1)}`)
    expect(second.body).toBe(first.body)
    expect(await s.delta()).toEqual({ selects: 1, hits: 1, misses: 1 })
    const entry = decodeEntry((await app.redis.get(app.keys.order(id(1))))!)
    expect(entry).toMatchObject({ kind: 'order', json: first.body })
    expect(await app.redis.ttl(app.keys.order(id(1)))).toBeGreaterThan(0)
  })

  it('an order that does not exist is a 404', async () => {
    const res = await app.inject('/orders/999999')
    expect(res.statusCode).toBe(404)
  })

  it('warm-up fills in the mode’s encoding: the next read is a hit without MySQL', async () => {
    const warm = await app.inject({ method: 'POST', url: '/admin/cache/warm', headers: auth, payload: { ids: [id(2), id(3)] } })
    expect(warm.json()).toEqual({ warmed: 2, missing: 0 })
    const s = await snapshot({ selects, hits: () => lookups('hit') })
    const res = await app.inject(`/orders/${id(2)}`)
    expect(res.json().id).toBe(id(2))
    expect(await s.delta()).toEqual({ selects: 0, hits: 1 })
    // Modes that store an envelope (logical expiry) store it for warmed entries too.
    const entry = decodeEntry((await app.redis.get(app.keys.order(id(2))))!) as { logicalExpiresAt?: number }
    expect(entry.logicalExpiresAt !== undefined).toBe(app.strategies.active.breakdown.encodeFill !== undefined)
  })

  it('an update invalidates, and the next read shows the new version', async () => {
    const before = (await app.inject(`/orders/${id(3)}`)).json()
    expect((await app.inject({ method: 'PUT', url: `/orders/${id(3)}`, payload: { quantity: 7 } })).statusCode).toBe(200)
    const after = (await app.inject(`/orders/${id(3)}`)).json()
    expect(after.version).toBe(before.version + 1)
    expect(after.quantity).toBe(7)
  })
})

describe('logical-expiry fills', () => {
  it('carry their own expiry and keep a Redis TTL longer than it (an entry nobody reads still leaves)', async () => {
    await applyStrategies([app], { breakdown: { mode: 'logical-expiry', params: { logicalTtlSeconds: 5 } }, avalanche: { params: { ttlSeconds: 50 } } })
    await app.inject('/orders/190')
    const key = app.keys.order('190')
    const entry = decodeEntry((await app.redis.get(key))!) as { logicalExpiresAt: number }
    expect(entry.logicalExpiresAt - Date.now()).toBeLessThanOrEqual(5000)
    const ttl = await app.redis.ttl(key)
    expect(ttl).toBeGreaterThan(5)
    expect(ttl).toBeLessThanOrEqual(5 + 50)
    await applyStrategies([app], { avalanche: { params: { ttlSeconds: 300 } } })
  })
})

describe('chaos actions: expire now', () => {
  it('expire-key deletes a plain entry: the next read misses and loads', async () => {
    await applyStrategies([app], { breakdown: { mode: 'none' } })
    await app.inject('/orders/191')
    const before = Date.now()
    const res = await action('expire-key', { id: '191' })
    expect(res.statusCode).toBe(200)
    // expiredAt: the instant used as "now" (a scenario lines reads up with it).
    expect(res.json()).toEqual({ action: 'expire-key', result: { id: '191', deleted: 1, logicallyExpired: 0, expiredAt: expect.any(Number) } })
    expect(res.json().result.expiredAt).toBeGreaterThanOrEqual(before)
    expect(res.json().result.expiredAt).toBeLessThanOrEqual(Date.now())
    expect(await app.redis.exists(app.keys.order('191'))).toBe(0)
    const s = await snapshot({ misses: () => lookups('miss'), selects })
    await app.inject('/orders/191')
    expect(await s.delta()).toEqual({ misses: 1, selects: 1 })
    expect(await metric(app, 'cachelab_chaos_expired_entries_total', { how: 'deleted' })).toBeGreaterThanOrEqual(1)
  })

  it('expire-key keeps an entry that carries its own expiry, expired now, with its Redis TTL', async () => {
    await applyStrategies([app], { breakdown: { mode: 'logical-expiry', params: { logicalTtlSeconds: 600 } } })
    await app.inject('/orders/192')
    const key = app.keys.order('192')
    const ttlBefore = await app.redis.ttl(key)
    const res = await action('expire-key', { id: '192' })
    expect(res.json().result).toEqual({ id: '192', deleted: 0, logicallyExpired: 1, expiredAt: expect.any(Number) })
    const entry = decodeEntry((await app.redis.get(key))!) as { logicalExpiresAt: number; json: string }
    // The entry now expires at exactly the instant the action reports.
    expect(entry.logicalExpiresAt).toBe(res.json().result.expiredAt)
    expect(JSON.parse(entry.json).id).toBe('192')
    expect(await app.redis.ttl(key)).toBeGreaterThan(ttlBefore - 5)
    const s = await snapshot({ stale: () => lookups('stale') })
    expect((await app.inject('/orders/192')).statusCode).toBe(200)
    expect((await s.delta()).stale).toBe(1)
  })

  it('expire-key on an id with no entry changes nothing', async () => {
    const res = await action('expire-key', { id: '193' })
    expect(res.json().result).toEqual({ id: '193', deleted: 0, logicallyExpired: 0, expiredAt: expect.any(Number) })
  })

  it('expire-prefix expires exactly the cached orders whose id starts with the prefix (SCAN), nothing else', async () => {
    await applyStrategies([app], { breakdown: { mode: 'none' } })
    await app.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })
    await app.inject({ method: 'POST', url: '/admin/cache/warm', headers: auth, payload: { from: 1, count: 60 } })
    const lockKey = app.keys.lock('1')
    await app.redis.set(lockKey, 'kept', 'PX', 60_000)
    const res = await action('expire-prefix', { idPrefix: '1' })
    // 1 and 10..19 among 1..60.
    expect(res.json().result).toEqual({ idPrefix: '1', scanned: 11, deleted: 11, logicallyExpired: 0, expiredAt: expect.any(Number) })
    for (const id of ['1', '10', '19']) expect(await app.redis.exists(app.keys.order(id))).toBe(0)
    for (const id of ['2', '21', '60']) expect(await app.redis.exists(app.keys.order(id))).toBe(1)
    expect(await app.redis.get(lockKey)).toBe('kept')
    await app.redis.del(lockKey)
  })

  it('refuses bad parameters with a message naming them', async () => {
    const missing = await action('expire-key', {})
    expect(missing.statusCode).toBe(400)
    expect(missing.json().message).toMatch(/expire-key: .*id/)
    const badId = await action('expire-key', { id: 'abc' })
    expect(badId.statusCode).toBe(400)
    expect(badId.json().message).toMatch(/expire-key: id /)
    const glob = await action('expire-prefix', { idPrefix: '1*' })
    expect(glob.statusCode).toBe(400)
    expect(glob.json().message).toMatch(/expire-prefix: idPrefix /)
    const unknown = await action('expire-prefix', { prefix: '1' })
    expect(unknown.json().message).toBe('expire-prefix: unknown parameter prefix; allowed: idPrefix')
  })

  it('the chaos catalogue lists both actions with their parameters', async () => {
    const { catalogue } = (await app.inject({ url: '/admin/chaos', headers: auth })).json()
    const names = catalogue.filter((c: { kind: string }) => c.kind === 'action').map((c: { name: string }) => c.name)
    expect(names).toEqual(expect.arrayContaining(['expire-key', 'expire-prefix']))
  })
})
