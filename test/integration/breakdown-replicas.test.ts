import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { decodeEntry } from '../../services/order-service/src/cache/codec.js'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { metric, snapshot } from '../helpers/metrics.js'
import { PATIENT_TIMEOUTS, applyStrategies, eventually, setFault } from '../helpers/strategy-state.js'

// Two app instances sharing one sandbox (Redis prefix and database) stand in for two replicas.
// MySQL is slowed (db-latency on selects) so that a burst of concurrent reads all arrive while the
// first load is still running: the expiry of a hot key under load.
let sandbox: Sandbox
let a: FastifyInstance
let b: FastifyInstance
let replicas: FastifyInstance[]
const SELECT_LATENCY_MS = 300
const BURST = 40

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(60)
  a = await build(sandbox, PATIENT_TIMEOUTS)
  b = await build(sandbox, PATIENT_TIMEOUTS)
  replicas = [a, b]
  await setFault(replicas, 'db-latency', { ms: SELECT_LATENCY_MS, operations: ['select'] })
})
afterEach(async () => {
  await applyStrategies(replicas, { breakdown: { mode: 'none' } })
})
afterAll(async () => {
  for (const app of replicas ?? []) await app.close()
  await sandbox?.drop()
})

const selects = (apps: FastifyInstance | FastifyInstance[]) => metric(apps, 'cachelab_db_queries_total', { operation: 'select' })
const lookups = (apps: FastifyInstance | FastifyInstance[], outcome: string) => metric(apps, 'cachelab_cache_lookups_total', { outcome })

/** `BURST` concurrent reads of one order, alternating between the replicas. */
async function burst(id: string) {
  const responses = await Promise.all(Array.from({ length: BURST }, (_, i) => replicas[i % 2]!.inject(`/orders/${id}`)))
  for (const r of responses) expect(r.statusCode, r.body).toBe(200)
  return responses.map((r) => r.json() as { id: string; version: number })
}

/** The order in a cache entry, and the entry's logical expiry. */
async function storedOrder(key: string) {
  const entry = decodeEntry((await a.redis.get(key))!)
  if (entry.kind !== 'order') throw new Error(`${key} holds no order`)
  return { ...(JSON.parse(entry.json) as { version: number }), expiresAt: entry.logicalExpiresAt!, recomputeMs: entry.recomputeMs }
}

function perReplica() {
  return snapshot({
    selectsA: () => selects(a),
    selectsB: () => selects(b),
    missesA: () => lookups(a, 'miss'),
    missesB: () => lookups(b, 'miss'),
    // A failed cache read falls back to MySQL outside the breakdown path: none expected here.
    cacheErrors: () => lookups(replicas, 'error'),
  })
}

describe('breakdown: concurrent misses of one hot key across two replicas', () => {
  it('none: every miss loads the order from MySQL', async () => {
    const s = await perReplica()
    const orders = await burst('11')
    expect(orders.every((o) => o.id === '11')).toBe(true)
    const d = await s.delta()
    expect(d.cacheErrors).toBe(0)
    expect(d.selectsA + d.selectsB).toBe(d.missesA + d.missesB)
    // More loads than single-flight could ever make (one per replica).
    expect(d.selectsA + d.selectsB).toBeGreaterThan(replicas.length)
  })

  it('single-flight: one load per replica, the other misses of that replica share it', async () => {
    await applyStrategies(replicas, { breakdown: { mode: 'single-flight' } })
    const s = await perReplica()
    const coalesced = await snapshot({ n: () => metric(replicas, 'cachelab_cache_loads_coalesced_total') })
    await burst('12')
    const d = await s.delta()
    expect(d.cacheErrors).toBe(0)
    // Both replicas missed (the burst arrives within the load time), and each loaded once.
    expect(d.missesA).toBeGreaterThan(0)
    expect(d.missesB).toBeGreaterThan(0)
    expect(d.selectsA).toBe(1)
    expect(d.selectsB).toBe(1)
    expect((await coalesced.delta()).n).toBe(d.missesA + d.missesB - 2)
  })

  it('mutex: the two replicas elect one loader; the other waits and reads the cache', async () => {
    // Lock TTL and wait far above the load time: the lock decides, not a timeout.
    await applyStrategies(replicas, { breakdown: { mode: 'mutex', params: { lockTtlMs: 10_000, lockWaitMs: 10_000 } } })
    const s = await perReplica()
    const t = await snapshot({
      loads: () => metric(replicas, 'cachelab_cache_rebuilds_total', { result: 'loaded' }),
      timeouts: () => metric(replicas, 'cachelab_lock_wait_timeouts_total'),
      waits: () => metric(replicas, 'cachelab_lock_wait_seconds_count'),
    })
    const orders = await burst('13')
    expect(new Set(orders.map((o) => JSON.stringify(o))).size).toBe(1)
    const d = await s.delta()
    expect(d.cacheErrors).toBe(0)
    expect(d.missesA).toBeGreaterThan(0)
    expect(d.missesB).toBeGreaterThan(0)
    expect(d.selectsA + d.selectsB).toBe(1)
    // The replica that lost the election waited once (its misses share one wait), without timing out.
    expect(await t.delta()).toEqual({ loads: 1, timeouts: 0, waits: 1 })
    expect(await a.redis.exists(a.keys.lock('13'))).toBe(0)
  })

  it('logical-expiry: an expired value is served at once (stale) while exactly one rebuild runs across both replicas', async () => {
    await applyStrategies(replicas, { breakdown: { mode: 'logical-expiry', params: { logicalTtlSeconds: 600, lockTtlMs: 10_000, lockWaitMs: 10_000 } } })
    const id = '14'
    const key = a.keys.order(id)

    // A cold miss takes the mutex path: one load across the replicas, and the value carries its expiry.
    const cold = await snapshot({ selects: () => selects(replicas) })
    const first = await burst(id)
    expect((await cold.delta()).selects).toBe(1)
    expect(decodeEntry((await a.redis.get(key))!)).toMatchObject({ kind: 'order', json: JSON.stringify(first[0]) })
    expect((await storedOrder(key)).expiresAt).toBeGreaterThan(Date.now())
    // Redis keeps it longer than its logical life (a safety TTL, not a short one).
    expect(await a.redis.ttl(key)).toBeGreaterThan(600)

    // The order changes in MySQL behind the cache's back, then its entry expires (logically).
    await a.mysql.query('UPDATE orders SET version = version + 1, quantity = quantity + 1 WHERE id = ?', [id])
    const expired = await a.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action: 'expire-key', params: { id } } })
    expect(expired.json().result).toMatchObject({ deleted: 0, logicallyExpired: 1 })

    const s = await snapshot({
      selects: () => selects(replicas),
      stale: () => lookups(replicas, 'stale'),
      misses: () => lookups(replicas, 'miss'),
      rebuilds: () => metric(replicas, 'cachelab_cache_rebuilds_total', { trigger: 'logical_expiry', result: 'loaded' }),
    })
    const locks = await snapshot({
      attempts: () => metric(replicas, 'cachelab_lock_attempts_total'),
      acquired: () => metric(replicas, 'cachelab_lock_attempts_total', { result: 'acquired' }),
      released: () => metric(replicas, 'cachelab_lock_releases_total'),
    })
    const during = await burst(id)
    // Every read got the old version at once: none waited for the (slow) rebuild.
    expect(during.every((o) => o.version === first[0]!.version)).toBe(true)
    // The new entry is visible in Redis as soon as the fill lands, but the owner counts its rebuild
    // only when it processes the fill's reply: on a starved machine the reply and the test's poll
    // come back in one read and the test saw the entry before the count. So wait until the service
    // is done: both replicas (both served stale reads) asked for the lock, and every lock taken was
    // released, which the owner does only after counting its rebuild. Then the counts are final.
    await eventually(
      async () => {
        if ((await storedOrder(key)).version !== first[0]!.version + 1) return false
        const l = await locks.delta()
        return l.attempts >= replicas.length && l.acquired >= 1 && l.released === l.acquired
      },
      10_000,
      'the rebuilt entry, with its lock released',
    )
    const d = await s.delta()
    expect(d).toEqual({ selects: 1, stale: BURST, misses: 0, rebuilds: 1 })

    // After the rebuild: a fresh hit with the new version.
    const after = await a.inject(`/orders/${id}`)
    expect(after.json().version).toBe(first[0]!.version + 1)
  })

  it('early-refresh: a hot key is reloaded in the background before it expires, so reads never miss', async () => {
    // beta at its maximum and a 2 s TTL: right after a 300+ ms load, each read refreshes with a
    // probability of at least exp(-2000 / (300 * 10)) ≈ 0.5.
    await applyStrategies(replicas, { breakdown: { mode: 'early-refresh', params: { earlyRefreshBeta: 10 } }, avalanche: { params: { ttlSeconds: 2 } } })
    try {
      const id = '15'
      const key = a.keys.order(id)
      expect((await a.inject(`/orders/${id}`)).statusCode).toBe(200)
      const loaded = await storedOrder(key)
      // The envelope carries the measured load time (the injected latency is part of it).
      expect(loaded.recomputeMs).toBeGreaterThanOrEqual(SELECT_LATENCY_MS)

      const s = await snapshot({
        refreshes: () => metric(a, 'cachelab_cache_rebuilds_total', { trigger: 'early_refresh', result: 'loaded' }),
        started: () => metric(a, 'cachelab_cache_rebuilds_total', { trigger: 'early_refresh' }),
        misses: () => lookups(a, 'miss'),
        hits: () => lookups(a, 'hit'),
      })
      // Sequential reads, each served from the cache, until one draws a refresh: its (slowed) select
      // is then in flight. With p >= 0.5 per read, 40 reads all missing it has odds below 1e-12.
      const refreshing = async () => (await metric(a, 'cachelab_db_queries_in_flight')) > 0
      let reads = 0
      while (reads < 40 && !(await refreshing())) {
        expect((await a.inject(`/orders/${id}`)).statusCode).toBe(200)
        reads++
      }
      expect(await refreshing()).toBe(true)
      // The refresh counts itself after its fill's reply, which a starved test process may read after
      // the poll that sees the new entry (see logical-expiry above): wait for both.
      await eventually(async () => (await storedOrder(key)).expiresAt > loaded.expiresAt && (await s.delta()).started >= 1, 10_000, 'the refreshed entry, counted')
      const d = await s.delta()
      expect(d).toMatchObject({ refreshes: 1, started: 1, misses: 0, hits: reads })
    } finally {
      await applyStrategies(replicas, { avalanche: { params: { ttlSeconds: 300 } } })
    }
  })
})
