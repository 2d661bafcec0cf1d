import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { scrape } from '../helpers/scrape.js'

// Many concurrent misses against a slow MySQL (db-latency chaos), with and without the bulkhead of
// the avalanche `protected` mode. Figures are what the service counted; nothing is timed.
let sandbox: Sandbox
let app: FastifyInstance
const DB_LATENCY_MS = 300

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(400)
  app = await build(sandbox)
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})
beforeEach(async () => {
  await app.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })
  await app.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })
})

async function setAvalanche(mode: string, params: Record<string, unknown> = {}): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { avalanche: { mode, params } } })
  expect(res.statusCode, res.body).toBe(200)
}

async function slowSelects(): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-latency', params: { ms: DB_LATENCY_MS, operations: ['select'] } } })
  expect(res.statusCode, res.body).toBe(200)
}

async function peakNow(): Promise<number> {
  return (await app.metrics.dbInFlightPeak.get()).values[0]?.value ?? 0
}

/**
 * Reads these ids all at once, sampling the in-flight peak gauge meanwhile; returns the responses
 * and the highest peak seen. It first waits for the gauge to forget earlier queries (1-2 s).
 */
async function burst(ids: number[]) {
  const deadline = Date.now() + 10_000
  while ((await peakNow()) > 0) {
    if (Date.now() > deadline) throw new Error('MySQL queries still in flight 10 s after the previous burst')
    await new Promise((r) => setTimeout(r, 100))
  }
  let peak = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await peakNow())
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  const responses = await Promise.all(ids.map((id) => app.inject(`/orders/${id}`)))
  sampling = false
  await sampler
  // The gauge covers the last 1-2 s: one more read after the burst sees its end too.
  peak = Math.max(peak, await peakNow())
  return { responses, peak }
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i)
}

describe('bulkhead on the read path (avalanche protected)', () => {
  it('keeps MySQL reads in flight within dbMaxConcurrent and sheds the excess with a prompt 503 + Retry-After; unprotected does not', async () => {
    const bound = 4
    await slowSelects()

    // Unprotected first: the same burst shows what the bound is protecting against.
    await setAvalanche('jitter')
    const before = await scrape(app)
    const open = await burst(range(1, 40))
    const afterOpen = await scrape(app)
    expect(open.responses.every((r) => r.statusCode === 200)).toBe(true)
    expect(open.peak).toBeGreaterThan(bound)
    expect(afterOpen('cachelab_db_queries_total', 'operation="select"') - before('cachelab_db_queries_total', 'operation="select"')).toBe(40)

    await setAvalanche('protected', { dbMaxConcurrent: bound, dbMaxQueue: bound, dbWaitTimeoutMs: 10_000 })
    const guarded = await burst(range(41, 40))
    const after = await scrape(app)
    const ok = guarded.responses.filter((r) => r.statusCode === 200)
    const shed = guarded.responses.filter((r) => r.statusCode === 503)
    expect(ok.length + shed.length).toBe(40)
    expect(shed.length).toBeGreaterThan(0)
    expect(guarded.peak).toBeGreaterThan(0)
    expect(guarded.peak).toBeLessThanOrEqual(bound)
    for (const r of shed) {
      expect(r.headers['retry-after']).toBe('1')
      expect(r.json()).toMatchObject({ code: 'CACHELAB_DB_SHED', message: expect.stringContaining('avalanche.dbMaxConcurrent') })
    }
    // Every shed read is counted, and none of them reached MySQL.
    expect(after('cachelab_db_bulkhead_rejections_total', 'reason="queue_full"') - afterOpen('cachelab_db_bulkhead_rejections_total', 'reason="queue_full"')).toBe(shed.length)
    expect(after('cachelab_db_queries_total', 'operation="select"') - afterOpen('cachelab_db_queries_total', 'operation="select"')).toBe(ok.length)
    expect(after('cachelab_db_bulkhead_waiting')).toBe(0)
  })

  it('sheds a read that waited dbWaitTimeoutMs for a slot, and never runs it afterwards', async () => {
    const bound = 2
    await slowSelects()
    await setAvalanche('protected', { dbMaxConcurrent: bound, dbMaxQueue: 100, dbWaitTimeoutMs: Math.floor(DB_LATENCY_MS / 3) })
    const before = await scrape(app)
    const { responses, peak } = await burst(range(101, 12))
    // The dropped queue entries are discarded as slots free up; let the last admitted loads finish.
    await new Promise((r) => setTimeout(r, DB_LATENCY_MS * 2))
    const after = await scrape(app)
    const ok = responses.filter((r) => r.statusCode === 200)
    const shed = responses.filter((r) => r.statusCode === 503)
    expect(ok.length + shed.length).toBe(12)
    expect(shed.length).toBeGreaterThan(0)
    expect(peak).toBeLessThanOrEqual(bound)
    for (const r of shed) expect(r.json()).toMatchObject({ code: 'CACHELAB_DB_SHED', message: expect.stringContaining('dbWaitTimeoutMs') })
    expect(after('cachelab_db_bulkhead_rejections_total', 'reason="wait_timeout"') - before('cachelab_db_bulkhead_rejections_total', 'reason="wait_timeout"')).toBe(shed.length)
    expect(after('cachelab_db_queries_total', 'operation="select"') - before('cachelab_db_queries_total', 'operation="select"')).toBe(ok.length)
    expect(after('cachelab_db_bulkhead_waiting')).toBe(0)
  })

  it('with degradedAnswer last-known, a shed read of an order served before gets that copy, marked degraded', async () => {
    await setAvalanche('protected', { dbMaxConcurrent: 2, dbMaxQueue: 0, degradedAnswer: 'last-known' })
    const ids = range(201, 20)
    const served = new Map<number, string>()
    for (const id of ids) served.set(id, (await app.inject(`/orders/${id}`)).body)
    await app.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })
    await slowSelects()

    const before = await scrape(app)
    const { responses, peak } = await burst([...ids, 399])
    const after = await scrape(app)
    const degraded = responses.filter((r) => r.headers['x-cachelab-degraded'] === 'last-known')
    expect(peak).toBeLessThanOrEqual(2)
    expect(degraded.length).toBeGreaterThan(0)
    expect(after('cachelab_degraded_answers_total', 'cause="shed"') - before('cachelab_degraded_answers_total', 'cause="shed"')).toBe(degraded.length)
    // The remembered ids are all answered (from MySQL or degraded), each with the copy served before.
    for (const [i, id] of ids.entries()) {
      expect(responses[i]!.statusCode).toBe(200)
      expect(responses[i]!.body).toBe(served.get(id))
    }
    // An order never served has no copy: if shed, it gets the 503.
    const unknown = responses[ids.length]!
    expect(unknown.headers['x-cachelab-degraded']).toBeUndefined()
    expect([200, 503]).toContain(unknown.statusCode)
  })
})
