import { randomInt } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { createOrder, metrics, pool, setPenetration, waitForMode } from '../helpers/penetration.js'

// Attack traffic against replica A while replica B creates orders that are read back at once
// through A: DB queries per attack request, per penetration mode and attack shape. The bounds come
// from the configuration (the false-positive rate, the number of repeated ids, the concurrency),
// never from a previous run.

const FP_RATE = 0.02
const CAPACITY = 2000
const LEGIT_PER_PHASE = 10
const PHASES = 8
/** The filter ends the run at its capacity: that is where its false-positive rate is FP_RATE. */
const SEEDED = CAPACITY - LEGIT_PER_PHASE * PHASES
const ATTACK_REQUESTS = 2000
const CONCURRENCY = 8
/** The "repeated" shape: this many missing ids, hammered. */
const REPEATED = 20

let sandbox: Sandbox
let a: FastifyInstance
let b: FastifyInstance

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(SEEDED)
  // Correctness under load, not timeouts: a busy shared machine stalls longer than the default bounds.
  const slowMachine = { REDIS_COMMAND_TIMEOUT_MS: 2000, MYSQL_CONNECT_TIMEOUT_MS: 10_000 }
  a = await build(sandbox, slowMachine)
  b = await build(sandbox, slowMachine)
  const res = await a.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { breakdown: { mode: 'none' }, penetration: { params: { bloomCapacity: CAPACITY, bloomFpRate: FP_RATE, nullTtlSeconds: 300 } } } })
  expect(res.statusCode).toBe(200)
})
afterAll(async () => {
  await a?.close()
  await b?.close()
  await sandbox?.drop()
})

const repeatedIds = Array.from({ length: REPEATED }, (_, i) => String(10_000_000 + i))
/** Random ids over a huge range, above anything seeded or generated. */
const randomMissingId = () => String(1_000_000_000_000_000_000n + BigInt(randomInt(2 ** 47)) * 1000n + BigInt(randomInt(1000)))

interface PhaseResult {
  attackRequests: number
  attackDbQueries: number
  legitNotFound: number
  falsePositives: number
  rejects: number
  /** Repeated ids the filter lets through (its false positives among them), before and after the attack (bloom phases). */
  letThroughBefore: number
  letThroughAfter: number
}

async function phase(mode: string, shape: 'repeated' | 'random'): Promise<PhaseResult> {
  await setPenetration(a, mode)
  await waitForMode(b, mode)
  await a.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })
  // Which repeated ids the filter holds by mistake. Asked before and after the attack: the orders
  // created meanwhile set more bits, which can turn a rejected id into a false positive.
  const filter = a.strategies.active.penetration
  const letThrough = async () => {
    let n = 0
    if (filter.bloom && shape === 'repeated') for (const id of repeatedIds) if (await filter.mightExist(id)) n++
    return n
  }
  const letThroughBefore = await letThrough()

  const series: Record<'selects' | 'fps' | 'rejects', [string, string?]> = {
    selects: ['cachelab_db_queries_total', 'operation="select"'],
    fps: ['cachelab_bloom_false_positives_total'],
    rejects: ['cachelab_cache_lookups_total', 'outcome="bloom_reject"'],
  }
  const before = await metrics(a, series)
  let attackNotFound = 0
  let legitNotFound = 0
  let legitReads = 0
  let attacking = true
  await Promise.all([
    pool(ATTACK_REQUESTS, CONCURRENCY, async (i) => {
      const id = shape === 'repeated' ? repeatedIds[i % REPEATED]! : randomMissingId()
      if ((await a.inject(`/orders/${id}`)).statusCode === 404) attackNotFound++
    }).finally(() => {
      attacking = false
    }),
    // Meanwhile: orders created on B, read back through A at once.
    (async () => {
      for (let i = 0; i < LEGIT_PER_PHASE; i++) {
        const id = await createOrder(b)
        legitReads++
        if ((await a.inject(`/orders/${id}`)).statusCode !== 200) legitNotFound++
        if (attacking) await new Promise((r) => setTimeout(r, 20))
      }
    })(),
  ])
  const after = await metrics(a, series)
  expect(attackNotFound).toBe(ATTACK_REQUESTS)
  // Each legit read-back is the first read of a new order on A: one cache miss, one select.
  const attackDbQueries = after.selects - before.selects - legitReads
  return { attackRequests: ATTACK_REQUESTS, attackDbQueries, legitNotFound, falsePositives: after.fps - before.fps, rejects: after.rejects - before.rejects, letThroughBefore, letThroughAfter: await letThrough() }
}

/** The smallest k with P(Binomial(n, p) > k) < tail: how many of n ids can be false positives, honestly. */
function binomialUpper(n: number, p: number, tail: number): number {
  let cdf = 0
  let term = (1 - p) ** n
  for (let k = 0; k <= n; k++) {
    cdf += term
    if (1 - cdf < tail) return k
    term *= ((n - k) / (k + 1)) * (p / (1 - p))
  }
  return n
}

describe('penetration attack: DB queries per attack request, two replicas', { timeout: 240_000 }, () => {
  const results: Record<string, PhaseResult> = {}
  const per1k = (r: PhaseResult) => Math.round((r.attackDbQueries / r.attackRequests) * 1000)

  afterAll(() => {
    const rows = Object.entries(results).map(([name, r]) => ({ phase: name, attackRequests: r.attackRequests, attackDbQueries: r.attackDbQueries, attackDbQueriesPer1k: per1k(r), falsePositiveRate: r.falsePositives + r.rejects > 0 ? +(r.falsePositives / (r.falsePositives + r.rejects)).toFixed(4) : null, legitNotFound: r.legitNotFound }))
    console.table(rows)
  })

  it('none: every attack request queries MySQL, repeated or random', async () => {
    for (const shape of ['repeated', 'random'] as const) {
      const r = (results[`none:${shape}`] = await phase('none', shape))
      expect(r.attackDbQueries).toBe(ATTACK_REQUESTS)
      expect(r.legitNotFound).toBe(0)
    }
  })

  it('null-cache: repeated ids reach MySQL about once each; random ids every time', async () => {
    const repeated = (results['null-cache:repeated'] = await phase('null-cache', 'repeated'))
    // Each id misses once, plus at most the requests for it already in flight when it did.
    expect(repeated.attackDbQueries).toBeGreaterThanOrEqual(REPEATED)
    expect(repeated.attackDbQueries).toBeLessThanOrEqual(REPEATED * CONCURRENCY)
    expect(repeated.legitNotFound).toBe(0)
    const random = (results['null-cache:random'] = await phase('null-cache', 'random'))
    // A sentinel only helps the same id again: fresh ids all miss.
    expect(random.attackDbQueries).toBe(ATTACK_REQUESTS)
    expect(random.legitNotFound).toBe(0)
  })

  it('bloom: only false positives reach MySQL, for both shapes', async () => {
    const repeated = (results['bloom:repeated'] = await phase('bloom', 'repeated'))
    // Only the requests for the repeated ids the filter holds by mistake...
    const perId = ATTACK_REQUESTS / REPEATED
    expect(repeated.attackDbQueries).toBe(repeated.falsePositives)
    expect(repeated.attackDbQueries).toBeGreaterThanOrEqual(repeated.letThroughBefore * perId)
    expect(repeated.attackDbQueries).toBeLessThanOrEqual(repeated.letThroughAfter * perId)
    // ...and how many of REPEATED ids are false positives is Binomial(REPEATED, FP_RATE).
    expect(repeated.letThroughAfter).toBeLessThanOrEqual(binomialUpper(REPEATED, FP_RATE, 1e-4))
    expect(repeated.legitNotFound).toBe(0)

    const random = (results['bloom:random'] = await phase('bloom', 'random'))
    expect(random.attackDbQueries).toBe(random.falsePositives)
    expect(random.falsePositives + random.rejects).toBe(ATTACK_REQUESTS)
    // About FP_RATE of them (a Poisson count of mean ~40: these bounds are ~5 standard deviations out).
    expect(random.attackDbQueries).toBeLessThanOrEqual(3 * FP_RATE * ATTACK_REQUESTS)
    expect(random.attackDbQueries).toBeGreaterThanOrEqual((FP_RATE * ATTACK_REQUESTS) / 4)
    expect(random.legitNotFound).toBe(0)
  })

  it('bloom+null-cache: a repeated false positive reaches MySQL about once; random ones as with bloom', async () => {
    const repeated = (results['bloom+null-cache:repeated'] = await phase('bloom+null-cache', 'repeated'))
    // Each false positive among the repeated ids misses once (plus requests already in flight), then hits its sentinel.
    expect(repeated.attackDbQueries).toBeLessThanOrEqual(repeated.letThroughAfter * CONCURRENCY)
    expect(repeated.attackDbQueries).toBeGreaterThanOrEqual(repeated.letThroughBefore)
    expect(repeated.legitNotFound).toBe(0)
    const random = (results['bloom+null-cache:random'] = await phase('bloom+null-cache', 'random'))
    expect(random.attackDbQueries).toBe(random.falsePositives)
    expect(random.attackDbQueries).toBeLessThanOrEqual(3 * FP_RATE * ATTACK_REQUESTS)
    expect(random.attackDbQueries).toBeGreaterThanOrEqual((FP_RATE * ATTACK_REQUESTS) / 4)
    expect(random.legitNotFound).toBe(0)
  })
})
