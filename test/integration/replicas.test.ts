import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'

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

async function replica(): Promise<FastifyInstance> {
  const app = await build(sandbox)
  apps.push(app)
  return app
}

/** Polls until `check` passes; returns the milliseconds it took. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not seen within ${ms} ms`)
    await sleep(10)
  }
  return Date.now() - started
}

describe('strategy state shared by every replica', () => {
  it('a change made on one replica is applied by the other within one second', async () => {
    const a = await replica()
    const b = await replica()
    const res = await a.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { avalanche: { params: { ttlSeconds: 77 } } } })
    expect(res.statusCode).toBe(200)
    expect(res.json().strategies.avalanche.params.ttlSeconds).toBe(77)
    await within(1000, () => b.strategies.current().avalanche.params.ttlSeconds === 77)
    // And B now fills with the new TTL.
    await b.inject('/orders/3')
    expect(await b.redis.ttl(b.keys.order('3'))).toBeLessThanOrEqual(77)
  })

  it('a replica started later (or restarted) picks up the current state', async () => {
    const c = await replica()
    expect(c.strategies.current().avalanche.params.ttlSeconds).toBe(77)
  })

  it('chaos faults reach every replica too, and reset returns all to the baseline', async () => {
    const [a, b] = apps as [FastifyInstance, FastifyInstance]
    await b.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-latency', params: { ms: 10 } } })
    await within(1000, () => a.chaos.affects('select'))
    await a.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })
    await within(1000, () => !b.chaos.affects('select'))

    const reset = await b.inject({ method: 'DELETE', url: '/admin/strategies', headers: auth })
    expect(reset.json().strategies.avalanche.params.ttlSeconds).toBe(300)
    await within(1000, () => a.strategies.current().avalanche.params.ttlSeconds === 300)
  })

  it('the catalogue lists every family with its modes, descriptions and parameter ranges', async () => {
    const res = await apps[0]!.inject({ url: '/admin/strategies', headers: auth })
    const { catalogue } = res.json()
    expect(catalogue.map((f: { family: string }) => f.family)).toEqual(['penetration', 'breakdown', 'avalanche', 'consistency', 'writes'])
    const avalanche = catalogue.find((f: { family: string }) => f.family === 'avalanche')
    expect(avalanche.baseline).toBe('fixed-ttl')
    expect(avalanche.modes[0].description).toMatch(/TTL/)
    expect(avalanche.params.ttlSeconds).toMatchObject({ minimum: 1, maximum: 86400, default: 300 })
  })
})
