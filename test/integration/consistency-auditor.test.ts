import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { metric, useConsistency, waitFor } from '../helpers/consistency.js'

let sandbox: Sandbox
let app: FastifyInstance
const apps: FastifyInstance[] = []

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(40)
  app = await build(sandbox)
  apps.push(app)
})
afterAll(async () => {
  for (const a of apps) await a.close()
  await sandbox?.drop()
})

/** Updates an order, then puts its pre-update JSON back in the cache (what a slow reader's fill does). */
async function plantStale(id: string) {
  await useConsistency(app, 'update-then-delete')
  const old = (await app.inject(`/orders/${id}`)).body
  const sent = Date.now()
  const put = await app.inject({ method: 'PUT', url: `/orders/${id}`, payload: { quantity: 6 } })
  const acknowledged = Date.now()
  await app.redis.set(app.keys.order(id), old, 'EX', 300)
  return { oldVersion: JSON.parse(old).version as number, newVersion: put.json().version as number, sent, acknowledged }
}

describe('consistency auditor', () => {
  it('finds a planted stale entry and reports its age; fresh entries are not stale; its MySQL reads are counted apart', async () => {
    const warm = await app.inject({ method: 'POST', url: '/admin/cache/warm', headers: auth, payload: { from: 1, count: 20 } })
    expect(warm.json()).toEqual({ warmed: 20, missing: 0 })
    const planted = await plantStale('7')
    // A "not found" sentinel for an order that exists is stale too.
    await app.redis.set(app.keys.order('8'), '!', 'EX', 300)
    await sleep(300)

    const selects = await metric(app, 'cachelab_db_queries_total', 'operation="select"')
    const audits = await metric(app, 'cachelab_db_queries_total', 'operation="audit"')
    const staleFound = await metric(app, 'cachelab_consistency_audit_stale_entries_total')
    const ages = await metric(app, 'cachelab_consistency_audit_stale_age_seconds_count')
    const started = Date.now()
    const res = await app.inject({ method: 'POST', url: '/admin/consistency/audit', headers: auth, payload: { scope: 'all' } })
    const finished = Date.now()
    expect(res.statusCode, res.body).toBe(200)
    const report = res.json()

    expect(report).toMatchObject({ scope: 'all', compared: 20, stale: 2, missingInDb: 0, truncated: false })
    const seven = report.staleEntries.find((s: { id: string }) => s.id === '7')
    expect(seven).toMatchObject({ cachedVersion: planted.oldVersion, dbVersion: planted.newVersion })
    // Its age is the time since MySQL's update: between these two bounds (1 ms of DATETIME(3) rounding).
    expect(seven.ageMs).toBeGreaterThanOrEqual(started - planted.acknowledged - 1)
    expect(seven.ageMs).toBeLessThanOrEqual(finished - planted.sent + 1)
    expect(report.staleEntries.find((s: { id: string }) => s.id === '8')).toMatchObject({ cachedVersion: null, dbVersion: 1 })
    expect(report.maxStaleAgeMs).toBe(Math.max(...report.staleEntries.map((s: { ageMs: number }) => s.ageMs)))

    expect(await metric(app, 'cachelab_consistency_audit_stale_entries_total')).toBe(staleFound + 2)
    expect(await metric(app, 'cachelab_consistency_audit_stale_age_seconds_count')).toBe(ages + 2)
    expect(await metric(app, 'cachelab_consistency_audit_last_stale_entries')).toBe(2)
    expect(await metric(app, 'cachelab_consistency_audit_last_max_stale_age_seconds')).toBe(report.maxStaleAgeMs / 1000)
    expect(await metric(app, 'cachelab_db_queries_total', 'operation="audit"')).toBe(audits + 1)
    expect(await metric(app, 'cachelab_db_queries_total', 'operation="select"')).toBe(selects)

    const status = await app.inject({ url: '/admin/consistency', headers: auth })
    expect(status.json()).toEqual({ delayedDeletes: { pending: 0, due: 0, nextDueInMs: null, heldInMemory: 0 }, lastAudit: report })

    // Once the stale entries are gone, the next audit finds none.
    await app.redis.del(app.keys.order('7'), app.keys.order('8'))
    const clean = (await app.inject({ method: 'POST', url: '/admin/consistency/audit', headers: auth, payload: { scope: 'all' } })).json()
    expect(clean).toMatchObject({ compared: 18, stale: 0, staleEntries: [], maxStaleAgeMs: 0 })
    expect(await metric(app, 'cachelab_consistency_audit_last_stale_entries')).toBe(0)
  })

  it('a sample audit compares at most its limit; without a body, AUDIT_SAMPLE_SIZE', async () => {
    const res = await app.inject({ method: 'POST', url: '/admin/consistency/audit', headers: auth, payload: { limit: 5 } })
    expect(res.json()).toMatchObject({ scope: 'sample', compared: 5 })
    const byDefault = await app.inject({ method: 'POST', url: '/admin/consistency/audit', headers: auth })
    expect(byDefault.statusCode, byDefault.body).toBe(200)
    expect(byDefault.json()).toMatchObject({ scope: 'sample', stale: 0 })
  })

  it('periodic audits (AUDIT_INTERVAL_MS) find a stale entry by themselves', async () => {
    const auditing = await build(sandbox, { AUDIT_INTERVAL_MS: 100, AUDIT_SAMPLE_SIZE: 1000 })
    apps.push(auditing)
    const planted = await plantStale('30')
    await waitFor('a periodic audit found the entry', () => auditing.auditor.lastReport()?.staleEntries.some((s) => s.id === '30') ?? false)
    expect(auditing.auditor.lastReport()!.staleEntries.find((s) => s.id === '30')).toMatchObject({ cachedVersion: planted.oldVersion, dbVersion: planted.newVersion })
    expect(await metric(auditing, 'cachelab_consistency_audits_total', 'result="ok"')).toBeGreaterThanOrEqual(1)
    await app.redis.del(app.keys.order('30'))
  })

  it('refuses a bad audit request with a message, and the admin token is required', async () => {
    const scope = await app.inject({ method: 'POST', url: '/admin/consistency/audit', headers: auth, payload: { scope: 'everything' } })
    expect(scope.statusCode).toBe(400)
    expect(scope.json().message).toMatch(/scope/)
    const limit = await app.inject({ method: 'POST', url: '/admin/consistency/audit', headers: auth, payload: { limit: 0 } })
    expect(limit.statusCode).toBe(400)
    expect(limit.json().message).toMatch(/limit/)
    const extra = await app.inject({ method: 'POST', url: '/admin/consistency/audit', headers: auth, payload: { sample: 5 } })
    expect(extra.statusCode).toBe(400)
    expect(extra.json().message).toMatch(/sample/)
    expect((await app.inject({ url: '/admin/consistency' })).statusCode).toBe(401)
  })
})
