import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisLock } from '../../services/order-service/src/cache/lock.js'
import { BACKOFF_CAP_FACTOR } from '../../services/order-service/src/strategies/breakdown/locked-load.js'
import { build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { metric, snapshot } from '../helpers/metrics.js'
import { PATIENT_TIMEOUTS, applyStrategies, eventually } from '../helpers/strategy-state.js'

let sandbox: Sandbox
let app: FastifyInstance

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(50)
  app = await build(sandbox, PATIENT_TIMEOUTS)
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

const selects = () => metric(app, 'cachelab_db_queries_total', { operation: 'select' })

describe('the rebuild lock (SET NX PX + compare-and-delete)', () => {
  it('a release by a non-owner does nothing; the owner releases', async () => {
    const lock = new RedisLock(app.redis)
    const key = app.keys.lock('1')
    const token = await lock.tryAcquire(key, 10_000)
    expect(token).not.toBeNull()
    expect(await lock.tryAcquire(key, 10_000)).toBeNull()
    expect(await lock.release(key, 'someone-else')).toBe(false)
    expect(await app.redis.get(key)).toBe(token)
    expect(await lock.release(key, token!)).toBe(true)
    expect(await app.redis.exists(key)).toBe(0)
  })

  it('a holder whose lock expired cannot release the next owner’s lock', async () => {
    const lock = new RedisLock(app.redis)
    const key = app.keys.lock('2')
    const first = await lock.tryAcquire(key, 50)
    await eventually(async () => (await app.redis.exists(key)) === 0, 5000, 'lock expiry')
    const second = await lock.tryAcquire(key, 10_000)
    expect(second).not.toBeNull()
    expect(await lock.release(key, first!)).toBe(false)
    expect(await app.redis.get(key)).toBe(second)
    await lock.release(key, second!)
  })
})

describe('mutex: waiting for another loader', () => {
  it('the owner re-checks the cache after acquiring, and does not load what another filled', async () => {
    await applyStrategies([app], { breakdown: { mode: 'mutex' } })
    await app.orders.warm(['3'])
    const s = await snapshot({ selects, fresh: () => metric(app, 'cachelab_cache_rebuilds_total', { trigger: 'miss', result: 'already_fresh' }) })
    // As if this request had missed just before another loader filled the entry.
    const json = await app.strategies.active.breakdown.onMiss('3', () => app.orders.loadAndFill('3'))
    expect(JSON.parse(json!).id).toBe('3')
    expect(await s.delta()).toEqual({ selects: 0, fresh: 1 })
  })

  it('a holder that died (lock left behind) delays the others by at most the lock TTL, then they load', async () => {
    const lockTtlMs = 1000
    const lockBackoffMs = 20
    // The wait is far longer than the TTL, and fails rather than loads: only the lock's expiry can let the request through.
    await applyStrategies([app], { breakdown: { mode: 'mutex', params: { lockTtlMs, lockWaitMs: 60_000, lockBackoffMs, lockFallback: 'fail' } } })
    const lockKey = app.keys.lock('4')
    await app.redis.set(lockKey, 'token-of-a-dead-loader', 'PX', lockTtlMs)
    const s = await snapshot({
      selects,
      acquiredWaits: () => metric(app, 'cachelab_lock_wait_seconds_count', { outcome: 'acquired' }),
      timeouts: () => metric(app, 'cachelab_lock_wait_timeouts_total'),
    })

    const started = performance.now()
    const remainingTtl = await app.redis.pttl(lockKey)
    const res = await app.inject('/orders/4')
    const waited = performance.now() - started

    expect(res.statusCode).toBe(200)
    expect(res.json().id).toBe('4')
    expect(await s.delta()).toEqual({ selects: 1, acquiredWaits: 1, timeouts: 0 })
    // It waited for the dead holder's lock to expire (Redis expires keys with 1 ms precision)...
    expect(waited).toBeGreaterThanOrEqual(remainingTtl - 1)
    // ...and no longer than its TTL plus one capped backoff step. Not a speed claim: slack for a busy CI.
    expect(waited).toBeLessThan(lockTtlMs + lockBackoffMs * BACKOFF_CAP_FACTOR + 1000)
  })

  it('on wait timeout with lockFallback "db", the waiter loads from MySQL anyway', async () => {
    await applyStrategies([app], { breakdown: { mode: 'mutex', params: { lockTtlMs: 60_000, lockWaitMs: 100, lockBackoffMs: 10, lockFallback: 'db' } } })
    const lockKey = app.keys.lock('5')
    await app.redis.set(lockKey, 'a-holder-that-never-finishes', 'PX', 60_000)
    const s = await snapshot({
      selects,
      timeouts: () => metric(app, 'cachelab_lock_wait_timeouts_total', { fallback: 'db' }),
      fallbackLoads: () => metric(app, 'cachelab_cache_rebuilds_total', { trigger: 'lock_timeout', result: 'loaded' }),
      timedOutWaits: () => metric(app, 'cachelab_lock_wait_seconds_count', { outcome: 'timeout' }),
    })
    const res = await app.inject('/orders/5')
    expect(res.statusCode).toBe(200)
    expect(res.json().id).toBe('5')
    expect(await s.delta()).toEqual({ selects: 1, timeouts: 1, fallbackLoads: 1, timedOutWaits: 1 })
    // The other holder's lock is untouched.
    expect(await app.redis.get(lockKey)).toBe('a-holder-that-never-finishes')
    await app.redis.del(lockKey)
  })

  it('on wait timeout with lockFallback "fail", the waiter gets a prompt 503 with Retry-After and MySQL is spared', async () => {
    await applyStrategies([app], { breakdown: { mode: 'mutex', params: { lockTtlMs: 60_000, lockWaitMs: 100, lockBackoffMs: 10, lockFallback: 'fail' } } })
    const lockKey = app.keys.lock('6')
    await app.redis.set(lockKey, 'a-holder-that-never-finishes', 'PX', 60_000)
    const s = await snapshot({ selects, timeouts: () => metric(app, 'cachelab_lock_wait_timeouts_total', { fallback: 'fail' }) })
    const res = await app.inject('/orders/6')
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('1')
    expect(res.json()).toMatchObject({ code: 'CACHELAB_LOCK_TIMEOUT', message: 'order 6 is being loaded by another request; gave up waiting after 100 ms' })
    expect(await s.delta()).toEqual({ selects: 0, timeouts: 1 })
    await app.redis.del(lockKey)
    // Once the holder is gone, the same read loads normally.
    expect((await app.inject('/orders/6')).statusCode).toBe(200)
  })

  it('backs off between attempts: no more lock attempts than the doubling, capped schedule fits in the wait', async () => {
    const lockBackoffMs = 10
    const lockWaitMs = 500
    await applyStrategies([app], { breakdown: { mode: 'mutex', params: { lockTtlMs: 60_000, lockWaitMs, lockBackoffMs, lockFallback: 'fail' } } })
    const lockKey = app.keys.lock('7')
    await app.redis.set(lockKey, 'held', 'PX', 60_000)
    const s = await snapshot({ busy: () => metric(app, 'cachelab_lock_attempts_total', { result: 'busy' }) })
    expect((await app.inject('/orders/7')).statusCode).toBe(503)
    // Sleeps 10, 20, 40, 80, then 80 each: this many full sleeps fit in the wait (sleeps only run
    // longer on a busy machine, so it is an upper bound). Attempts: the first, one after each full
    // sleep, one after the last partial sleep, and one more when a timer fires a millisecond early.
    let slept = 0
    let sleeps = 0
    for (let b = lockBackoffMs; slept + b < lockWaitMs; b = Math.min(b * 2, lockBackoffMs * BACKOFF_CAP_FACTOR)) (slept += b), sleeps++
    const { busy } = await s.delta()
    expect(busy).toBeGreaterThanOrEqual(2)
    expect(busy).toBeLessThanOrEqual(sleeps + 3)
    await app.redis.del(lockKey)
  })
})
