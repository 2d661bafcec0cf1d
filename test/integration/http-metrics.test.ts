import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'

// The per-request metric work: HTTP durations by route pattern and status, and cache lookups;
// with METRICS_ENABLED=false none of it runs.
let sandbox: Sandbox
const apps: FastifyInstance[] = []

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(10)
})
afterAll(async () => {
  for (const app of apps) await app.close()
  await sandbox?.drop()
})

async function series(app: FastifyInstance, name: string): Promise<Map<string, number>> {
  const body = (await app.inject('/metrics')).body
  const out = new Map<string, number>()
  for (const line of body.split('\n')) if (line.startsWith(`${name}{`)) out.set(line.slice(name.length, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)))
  return out
}

describe('HTTP request metrics', () => {
  it('observe every request once under its route pattern and status, never its URL', async () => {
    const app = await build(sandbox)
    apps.push(app)
    expect((await app.inject('/orders/1')).statusCode).toBe(200)
    expect((await app.inject('/orders/1')).statusCode).toBe(200)
    expect((await app.inject('/orders/999')).statusCode).toBe(404)
    expect((await app.inject({ method: 'HEAD', url: '/orders/2' })).statusCode).toBe(200)
    expect((await app.inject('/no/such/route')).statusCode).toBe(404)
    const counts = await series(app, 'http_request_duration_seconds_count')
    expect(counts.get('{method="GET",route="/orders/:id",status_code="200"}')).toBe(2)
    expect(counts.get('{method="GET",route="/orders/:id",status_code="404"}')).toBe(1)
    expect(counts.get('{method="HEAD",route="/orders/:id",status_code="200"}')).toBe(1)
    expect(counts.get('{method="GET",route="unmatched",status_code="404"}')).toBe(1)
    expect([...counts.keys()].some((k) => /orders\/\d|no\/such/.test(k))).toBe(false)
    // Durations are real: every bucket series is cumulative and ends at the count.
    const sums = await series(app, 'http_request_duration_seconds_sum')
    expect(sums.get('{method="GET",route="/orders/:id",status_code="200"}')).toBeGreaterThan(0)
    const inf = await series(app, 'http_request_duration_seconds_bucket')
    expect(inf.get('{le="+Inf",method="GET",route="/orders/:id",status_code="200"}')).toBe(2)
  })

  it('METRICS_ENABLED=false does no per-request metric work: nothing observed, nothing counted', async () => {
    const app = await build(sandbox, { METRICS_ENABLED: false })
    apps.push(app)
    expect((await app.inject('/orders/3')).statusCode).toBe(200)
    expect((await app.inject('/orders/3')).statusCode).toBe(200)
    expect((await app.inject('/nope')).statusCode).toBe(404)
    expect([...(await series(app, 'http_request_duration_seconds_count')).values()]).toEqual([])
    expect([...(await series(app, 'cachelab_cache_lookups_total')).values()].every((v) => v === 0)).toBe(true)
  })
})
