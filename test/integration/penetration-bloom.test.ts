import { randomInt } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { optimalBits, optimalHashes } from '../../services/order-service/src/strategies/penetration/bloom-index.js'
import { journalKey } from '../../services/order-service/src/strategies/penetration/creation-journal.js'
import type { BloomStats } from '../../services/order-service/src/strategies/types.js'
import { auth, build, countOrders, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { createOrder, eventually, metric, metrics, pool, setPenetration, waitForMode } from '../helpers/penetration.js'

// These tests are about correctness under concurrency, not timeouts: on a shared, busy machine the
// event loop stalls for longer than the default Redis command timeout (250 ms), and the shared MySQL
// can take longer than the default query bound (5 s) to answer an insert, either of which turns a
// creation into a clear 503 and ends the test early. Generous bounds keep the figures about the filter.
const SLOW_MACHINE = { REDIS_COMMAND_TIMEOUT_MS: 2000, MYSQL_CONNECT_TIMEOUT_MS: 10_000, MYSQL_QUERY_TIMEOUT_MS: 30_000 }

const sandboxes: Sandbox[] = []
const apps: FastifyInstance[] = []
afterAll(async () => {
  for (const app of apps) await app.close()
  for (const s of sandboxes) await s.drop()
})

async function sandboxWith(orders: number): Promise<Sandbox> {
  const s = await createSandbox()
  sandboxes.push(s)
  await s.seed(orders)
  return s
}

async function replica(sandbox: Sandbox): Promise<FastifyInstance> {
  const app = await build(sandbox, SLOW_MACHINE)
  apps.push(app)
  return app
}

/** Ids far above anything seeded or generated (generated ids are below 2^59 ≈ 5.8e17 for decades). */
function missingId(): string {
  return String(1_000_000_000_000_000_000n + BigInt(randomInt(2 ** 47)) * 1000n + BigInt(randomInt(1000)))
}

async function bloomStats(app: FastifyInstance): Promise<BloomStats> {
  const res = await app.inject({ url: '/admin/bloom', headers: auth })
  expect(res.statusCode).toBe(200)
  return res.json().filter as BloomStats
}

/** mightExist without waiting: true/false when the local filter answers, 'ask-journal' when it would catch up first. */
function localAnswer(app: FastifyInstance, id: string): boolean | 'ask-journal' {
  const r = app.strategies.active.penetration.mightExist(id)
  if (typeof r === 'boolean') return r
  r.catch(() => {})
  return 'ask-journal'
}

describe('bloom: sizing and the measured false-positive rate', { timeout: 120_000 }, () => {
  it('is sized from bloomCapacity and bloomFpRate, and its measured false-positive rate at capacity is within 2× of the target', async () => {
    const capacity = 4000
    const fpRate = 0.05
    const sandbox = await sandboxWith(capacity)
    const app = await replica(sandbox)
    await setPenetration(app, 'bloom', { bloomCapacity: capacity, bloomFpRate: fpRate })

    const stats = await bloomStats(app)
    expect(stats.bits).toBe(optimalBits(capacity, fpRate))
    expect(stats.hashes).toBe(optimalHashes(stats.bits, capacity))
    expect(stats.capacity).toBe(capacity)
    expect(stats.targetFpRate).toBe(fpRate)
    // Every seeded id, less the few the filter already (falsely) held when it was added.
    expect(stats.items).toBeLessThanOrEqual(capacity)
    expect(stats.items).toBeGreaterThan(capacity * (1 - fpRate))
    // The fill at capacity is about one half by construction; the estimate from it lands near n.
    expect(stats.fillRatio).toBeGreaterThan(0.4)
    expect(stats.fillRatio).toBeLessThan(0.6)
    expect(Math.abs(stats.estimatedItems - capacity)).toBeLessThan(capacity * 0.1)

    // Probe with ids that exist nowhere: each "maybe" costs one MySQL select, each reject none.
    const probes = 2000
    const before = await metrics(app, {
      selects: ['cachelab_db_queries_total', 'operation="select"'],
      rejects: ['cachelab_cache_lookups_total', 'outcome="bloom_reject"'],
      absent: ['cachelab_bloom_checks_total', 'answer="absent"'],
      fps: ['cachelab_bloom_false_positives_total'],
    })
    let notFound = 0
    await pool(probes, 8, async () => {
      if ((await app.inject(`/orders/${missingId()}`)).statusCode === 404) notFound++
    })
    expect(notFound).toBe(probes)
    const after = await metrics(app, {
      selects: ['cachelab_db_queries_total', 'operation="select"'],
      rejects: ['cachelab_cache_lookups_total', 'outcome="bloom_reject"'],
      absent: ['cachelab_bloom_checks_total', 'answer="absent"'],
      fps: ['cachelab_bloom_false_positives_total'],
      measured: ['cachelab_bloom_false_positive_ratio', 'source="measured"'],
      target: ['cachelab_bloom_false_positive_ratio', 'source="target"'],
      bits: ['cachelab_bloom_bits'],
      hashes: ['cachelab_bloom_hash_functions'],
    })
    const fps = after.fps - before.fps
    const rejects = after.rejects - before.rejects
    expect(after.absent - before.absent).toBe(rejects)
    expect(fps + rejects).toBe(probes)
    // Only false positives reached MySQL.
    expect(after.selects - before.selects).toBe(fps)
    const measured = fps / probes
    expect(measured).toBeGreaterThan(fpRate / 2)
    expect(measured).toBeLessThan(fpRate * 2)
    // The gauges say the same as the counters and the stats.
    expect(after.measured).toBeCloseTo(measured, 10)
    expect(after.target).toBe(fpRate)
    expect(after.bits).toBe(stats.bits)
    expect(after.hashes).toBe(stats.hashes)
    expect((await bloomStats(app)).measuredFpRate).toBeCloseTo(measured, 10)
  })
})

describe('bloom: never "absent" for an order that exists, across replicas', { timeout: 120_000 }, () => {
  let a: FastifyInstance
  let b: FastifyInstance
  let sandbox: Sandbox

  it('an order created on one replica and read at once on the other is always found', async () => {
    sandbox = await sandboxWith(200)
    a = await replica(sandbox)
    b = await replica(sandbox)
    await setPenetration(a, 'bloom', { bloomCapacity: 100_000, bloomFpRate: 0.01 })
    await waitForMode(b, 'bloom')
    const caughtUpBefore = (await metric(a, 'cachelab_bloom_checks_total', 'answer="caught_up"')) + (await metric(b, 'cachelab_bloom_checks_total', 'answer="caught_up"'))

    let notFound = 0
    // One after the other, both directions...
    for (let i = 0; i < 100; i++) {
      const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a]
      const id = await createOrder(writer)
      if ((await reader.inject(`/orders/${id}`)).statusCode !== 200) notFound++
    }
    // ...and concurrently: four writers on each side, each reading its order back on the other.
    await pool(200, 8, async (i) => {
      const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a]
      const id = await createOrder(writer)
      if ((await reader.inject(`/orders/${id}`)).statusCode !== 200) notFound++
    })
    expect(notFound).toBe(0)
    // The race was real: the reading replica had not heard of the order and caught up with the journal first.
    const caughtUpAfter = (await metric(a, 'cachelab_bloom_checks_total', 'answer="caught_up"')) + (await metric(b, 'cachelab_bloom_checks_total', 'answer="caught_up"'))
    expect(caughtUpAfter - caughtUpBefore).toBeGreaterThan(0)
  })

  it('still rejects missing ids on both replicas, without touching MySQL', async () => {
    for (const app of [a, b]) {
      const before = await metrics(app, { selects: ['cachelab_db_queries_total', 'operation="select"'], rejects: ['cachelab_cache_lookups_total', 'outcome="bloom_reject"'], fps: ['cachelab_bloom_false_positives_total'] })
      for (let i = 0; i < 200; i++) expect((await app.inject(`/orders/${missingId()}`)).statusCode).toBe(404)
      const after = await metrics(app, { selects: ['cachelab_db_queries_total', 'operation="select"'], rejects: ['cachelab_cache_lookups_total', 'outcome="bloom_reject"'], fps: ['cachelab_bloom_false_positives_total'] })
      expect(after.rejects - before.rejects + (after.fps - before.fps)).toBe(200)
      expect(after.selects - before.selects).toBe(after.fps - before.fps)
    }
  })

  it('concurrent rejects share their journal catch-up instead of one round trip each', async () => {
    const before = await metrics(a, { rejects: ['cachelab_bloom_checks_total', 'answer="absent"'], syncs: ['cachelab_bloom_journal_syncs_total', 'result="ok"'] })
    const results = await Promise.all(Array.from({ length: 200 }, () => a.inject(`/orders/${missingId()}`)))
    expect(results.every((r) => r.statusCode === 404)).toBe(true)
    const after = await metrics(a, { rejects: ['cachelab_bloom_checks_total', 'answer="absent"'], syncs: ['cachelab_bloom_journal_syncs_total', 'result="ok"'] })
    const rejects = after.rejects - before.rejects
    expect(rejects).toBeGreaterThan(100)
    expect(after.syncs - before.syncs).toBeLessThanOrEqual(rejects / 2)
  })

  it('an order accepted but not yet in MySQL (a queued one) is "maybe" on every replica, and on a replica started later', async () => {
    const queuedId = '4611686018427387904'
    // What the write path does for a queued order: recorded, not inserted.
    await a.strategies.active.penetration.beforeCreate!(queuedId)
    await a.strategies.active.penetration.onCreated(queuedId)
    expect(await b.strategies.active.penetration.mightExist(queuedId)).toBe(true)
    // A replica (re)started now builds from MySQL plus the journal: it knows the id without asking.
    const c = await replica(sandbox)
    await waitForMode(c, 'bloom')
    expect(localAnswer(c, queuedId)).toBe(true)
    expect((await bloomStats(c)).items).toBeGreaterThanOrEqual(200 + 300 + 1)
  })
})

describe('bloom: rebuild', { timeout: 120_000 }, () => {
  it('swaps in the new filter without a moment where an existing order is answered 404, and keeps ids created meanwhile', async () => {
    const seeded = 10_000
    const sandbox = await sandboxWith(seeded)
    const a = await replica(sandbox)
    const b = await replica(sandbox)
    await setPenetration(a, 'bloom', { bloomCapacity: 100_000, bloomFpRate: 0.01 })
    await waitForMode(b, 'bloom')
    const builtBefore = (await bloomStats(a)).builtAt
    // A long journal (orders accepted in the last hour, say) widens the last step of the build, when
    // the journal has been read and the swap has not happened yet: creations seen then must not be lost.
    for (let i = 0; i < 10_000; i += 1000) {
      const p = a.redis.pipeline()
      for (let j = i; j < i + 1000; j++) p.xadd(journalKey(a.keys), '*', 'created', String(900_000_000 + j))
      await p.exec()
    }

    // Everything below runs while the rebuild request is in flight.
    let done = false
    let readsDuringRebuild = 0
    const failures: string[] = []
    const createdDuringRebuild: string[] = []
    const rebuild = a.inject({ method: 'POST', url: '/admin/bloom/rebuild', headers: auth, payload: { scope: 'local' } }).finally(() => {
      done = true
    })
    const check = (what: string, status: number, expected: number) => {
      if (status !== expected) failures.push(`${what}: ${status}`)
    }
    await Promise.all([
      // Existing seeded orders.
      (async () => {
        while (!done) {
          check('seeded', (await a.inject(`/orders/${randomInt(1, seeded + 1)}`)).statusCode, 200)
          readsDuringRebuild++
        }
      })(),
      // Orders created elsewhere, read here at once.
      (async () => {
        while (!done) {
          const id = await createOrder(b)
          check('created on b', (await a.inject(`/orders/${id}`)).statusCode, 200)
          createdDuringRebuild.push(id)
        }
      })(),
      // Orders created here.
      (async () => {
        while (!done) {
          const id = await createOrder(a)
          check('created on a', (await a.inject(`/orders/${id}`)).statusCode, 200)
          createdDuringRebuild.push(id)
        }
      })(),
      // Missing ids are still rejected meanwhile (the old filter serves).
      (async () => {
        while (!done) check('missing', (await a.inject(`/orders/${missingId()}`)).statusCode, 404)
      })(),
    ])
    const res = await rebuild
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().scope).toBe('local')
    expect(failures).toEqual([])
    expect(readsDuringRebuild).toBeGreaterThan(0)
    const after = await bloomStats(a)
    expect(after.builtAt).not.toBe(builtBefore)
    expect(after.rebuilding).toBe(false)
    // Everything created while the new filter was being built is in it, without asking the journal.
    expect(createdDuringRebuild.length).toBeGreaterThan(0)
    const unknown = createdDuringRebuild.filter((id) => localAnswer(a, id) !== true)
    expect(unknown).toEqual([])
    expect(after.items).toBeGreaterThanOrEqual(seeded + createdDuringRebuild.length - Math.ceil(0.01 * (seeded + createdDuringRebuild.length)))
    expect(await metric(a, 'cachelab_bloom_rebuilds_total', 'reason="admin",result="ok"')).toBe(1)

    // scope "all" (the default): the other replica rebuilds too, through the journal.
    const bBuilt = (await bloomStats(b)).builtAt
    const all = await a.inject({ method: 'POST', url: '/admin/bloom/rebuild', headers: auth })
    expect(all.statusCode).toBe(200)
    expect(all.json().scope).toBe('all')
    await eventually(async () => (await bloomStats(b)).builtAt !== bBuilt, 10_000, 'rebuild on the other replica')
    expect(await metric(b, 'cachelab_bloom_rebuilds_total', 'reason="admin",result="ok"')).toBe(1)
    // The requester does not rebuild twice for its own request.
    await new Promise((r) => setTimeout(r, 1500))
    expect(await metric(a, 'cachelab_bloom_rebuilds_total', 'reason="admin",result="ok"')).toBe(2)
  })

  it('rebuilds itself, larger, when the orders pass the capacity', async () => {
    const capacity = 1000
    const sandbox = await sandboxWith(capacity - 20)
    const app = await replica(sandbox)
    await setPenetration(app, 'bloom', { bloomCapacity: capacity, bloomFpRate: 0.01 })
    expect((await bloomStats(app)).capacity).toBe(capacity)
    const ids: string[] = []
    for (let i = 0; i < 40; i++) ids.push(await createOrder(app))
    await eventually(async () => (await metric(app, 'cachelab_bloom_rebuilds_total', 'reason="capacity",result="ok"')) === 1, 10_000, 'capacity rebuild')
    const stats = await bloomStats(app)
    expect(stats.capacity).toBeGreaterThanOrEqual(2 * capacity)
    expect(stats.bits).toBe(optimalBits(stats.capacity, 0.01))
    expect(stats.items).toBeGreaterThanOrEqual(await countOrders(app) - Math.ceil(0.01 * stats.items))
    for (const id of ids) expect(localAnswer(app, id)).toBe(true)
    // Sized with room: no rebuild storm.
    await new Promise((r) => setTimeout(r, 500))
    expect(await metric(app, 'cachelab_bloom_rebuilds_total', 'reason="capacity",result="ok"')).toBe(1)
  })

  it('starts with more orders than its capacity: serves the (fuller) filter at once, then resizes', async () => {
    const sandbox = await sandboxWith(1500)
    const app = await replica(sandbox)
    await setPenetration(app, 'bloom', { bloomCapacity: 1000, bloomFpRate: 0.01 })
    for (const id of ['1', '750', '1500']) expect((await app.inject(`/orders/${id}`)).statusCode).toBe(200)
    await eventually(async () => (await bloomStats(app)).capacity >= 2 * 1000, 10_000, 'resize after start')
    for (const id of ['1', '750', '1500']) expect(localAnswer(app, id)).toBe(true)
  })
})

describe('bloom: a gap in the creation journal', () => {
  it('makes the filter reject nothing until a rebuild has restored it', async () => {
    const sandbox = await sandboxWith(100)
    const app = await replica(sandbox)
    await setPenetration(app, 'bloom', { bloomCapacity: 10_000, bloomFpRate: 0.01 })
    await createOrder(app)
    expect((await app.inject(`/orders/${missingId()}`)).statusCode).toBe(404)
    const rejects = await metric(app, 'cachelab_bloom_checks_total', 'answer="absent"')

    // Entries this replica has not read vanish (trimmed while it was away, or the key deleted).
    await app.redis.xadd(journalKey(app.keys), '*', 'created', '777')
    await app.redis.del(journalKey(app.keys))
    const selects = await metric(app, 'cachelab_db_queries_total', 'operation="select"')
    expect((await app.inject(`/orders/${missingId()}`)).statusCode).toBe(404)
    // Not rejected: it cannot know whether the lost entries held this id; MySQL answered.
    expect(await metric(app, 'cachelab_bloom_checks_total', 'answer="absent"')).toBe(rejects)
    expect(await metric(app, 'cachelab_db_queries_total', 'operation="select"')).toBe(selects + 1)
    expect(await metric(app, 'cachelab_bloom_journal_syncs_total', 'result="gap"')).toBe(1)

    await eventually(async () => (await bloomStats(app)).trusted, 10_000, 'trusted again')
    expect(await metric(app, 'cachelab_bloom_rebuilds_total', 'reason="journal_gap",result="ok"')).toBe(1)
    expect((await app.inject(`/orders/${missingId()}`)).statusCode).toBe(404)
    expect(await metric(app, 'cachelab_bloom_checks_total', 'answer="absent"')).toBe(rejects + 1)
  })
})

describe('bloom admin routes', () => {
  it('report and refuse clearly', async () => {
    const sandbox = await sandboxWith(10)
    const app = await replica(sandbox)
    await setPenetration(app, 'none')
    expect((await app.inject({ url: '/admin/bloom', headers: auth })).json()).toEqual({ mode: 'none', active: false })
    const inactive = await app.inject({ method: 'POST', url: '/admin/bloom/rebuild', headers: auth })
    expect(inactive.statusCode).toBe(409)
    expect(inactive.json()).toMatchObject({ code: 'CACHELAB_BLOOM_INACTIVE', message: expect.stringMatching(/penetration mode is "none".*"bloom" or "bloom\+null-cache"/) })
    expect((await app.inject({ method: 'POST', url: '/admin/bloom/rebuild' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/admin/bloom' })).statusCode).toBe(401)

    await setPenetration(app, 'bloom+null-cache', { bloomCapacity: 1000 })
    const bad = await app.inject({ method: 'POST', url: '/admin/bloom/rebuild', headers: auth, payload: { scope: 'everywhere' } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toMatch(/scope.*"all", "local"/)
    const extra = await app.inject({ method: 'POST', url: '/admin/bloom/rebuild', headers: auth, payload: { force: true } })
    expect(extra.statusCode).toBe(400)
    expect(extra.json().message).toMatch(/unknown field "force"; allowed: scope/)
    const ok = await app.inject({ method: 'POST', url: '/admin/bloom/rebuild', headers: auth, payload: {} })
    expect(ok.statusCode, ok.body).toBe(200)
    expect(ok.json().filter).toMatchObject({ capacity: 1000, items: 10, trusted: true, rebuilding: false })
    const catalogue = (await app.inject({ url: '/admin/strategies', headers: auth })).json().catalogue
    const penetration = catalogue.find((f: { family: string }) => f.family === 'penetration')
    expect(penetration.modes.map((m: { name: string }) => m.name)).toEqual(['none', 'null-cache', 'bloom', 'bloom+null-cache'])
    expect(penetration.modes.find((m: { name: string }) => m.name === 'bloom+null-cache').uses).toEqual(['nullTtlSeconds', 'bloomCapacity', 'bloomFpRate'])
  })
})
