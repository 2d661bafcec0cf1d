import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, createSandbox, TEST_TOKEN, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { type DashboardFile, type DashboardQuery, dashboardQueries, loadDashboards, parseLabelValues, substituteGrafanaVariables } from '../helpers/dashboards.js'
import { composeTrendStats, SimulatedK6Run } from '../helpers/k6-remote-write.js'
import { localConfig, PrometheusServer } from '../helpers/prometheus-server.js'
import { RedisServer } from '../helpers/redis-server.js'
import { startTestWorker, waitFor } from '../helpers/worker.js'
import type { WorkerHandle } from '../../services/order-worker/src/worker.js'

// Every query of every committed dashboard, evaluated by a real Prometheus (Debian's `prometheus`,
// run with the lab's prometheus.yml settings) that scraped two real replicas of the order service
// (and a real order worker) while this file drove traffic through them: misses, hits, missing ids,
// creates, updates, a strategy change, a chaos fault, each scenario's situation (penetration,
// breakdown, avalanche, consistency, a queued burst) and a Redis outage. k6's metrics are written the way k6 writes
// them (remote write). A query without data here would show "No data" in Grafana.
// This file stops Redis: it runs its own redis-server child, never the machine's shared one.

const SCRAPE_SECONDS = 1
const STEP_SECONDS = 1
const DB_TIMEOUT_MS = 150
const FAULT_LATENCY_MS = 300
const SEEDED = 200

const DASHBOARDS = loadDashboards()
const QUERIES: (DashboardQuery & { file: DashboardFile })[] = DASHBOARDS.flatMap((d) => dashboardQueries(d).map((query) => ({ ...query, file: d })))

let redis: RedisServer
let sandbox: Sandbox
const replicas: FastifyInstance[] = []
let prometheus: PrometheusServer
let worker: WorkerHandle
let k6: SimulatedK6Run
let started = 0
let ended = 0
const statuses = new Map<number, number>()

const rand = (n: number) => 1 + Math.floor(Math.random() * n)
let turn = 0

/** One request to the next replica (round robin, as the load balancer does). */
async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<number> {
  return (await sendForText(method, path, body, headers)).status
}

async function sendForText(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const app = replicas[turn++ % replicas.length]!
  const { port } = app.server.address() as AddressInfo
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
  return { status: res.status, text }
}

const admin = { authorization: `Bearer ${TEST_TOKEN}` }

/**
 * An admin call that must succeed. The replicas bound Redis commands at 100 ms (for the outage) and
 * the machine is loaded: a call that hit that bound (a 5xx) is tried again; the calls are idempotent.
 */
async function adminCall(method: string, path: string, body?: unknown): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { status, text } = await sendForText(method, path, body, admin)
    if (status === 200) return
    if (status < 500 || attempt === 3) throw new Error(`${method} ${path} answered ${status}: ${text}`)
    await sleep(200)
  }
}

/** Batches of concurrent requests until `ms` have passed. */
async function drive(ms: number, batch: () => Promise<unknown>[]): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    await Promise.all(batch())
    await sleep(20)
  }
}

/** The lab's everyday mix: reads of existing orders (misses, then hits), missing ids, writes. */
function mixedBatch(): Promise<unknown>[] {
  return [
    ...Array.from({ length: 8 }, () => send('GET', `/orders/${rand(60)}`)),
    send('GET', `/orders/${1_000_000 + rand(1000)}`),
    send('PUT', `/orders/${rand(60)}`, { quantity: rand(5) }),
    send('POST', '/orders', { userId: rand(100), item: 'dashboard check', quantity: 1, amountCents: 1999 }),
  ]
}

/**
 * The traffic, in order. A panel whose query only has data in some situation (a mode switched on,
 * a fault, an outage) needs a phase here that creates it: add one per scenario's panels.
 */
const PHASES: { name: string; run: () => Promise<void> }[] = [
  { name: 'everyday mix: misses, hits, missing ids, creates, updates', run: () => drive(4000, mixedBatch) },
  {
    name: 'a strategy change, applied by every replica',
    run: async () => {
      await adminCall('PUT', '/admin/strategies', { avalanche: { params: { ttlSeconds: 120 } } })
      await drive(1500, mixedBatch)
    },
  },
  {
    // MySQL slower than the service's deadline, with an empty cache: reads pile up in flight and time out (503).
    name: 'chaos fault db-latency over the query deadline',
    run: async () => {
      await adminCall('POST', '/admin/chaos', { fault: 'db-latency', params: { ms: FAULT_LATENCY_MS }, durationSeconds: 4 })
      await adminCall('POST', '/admin/cache/flush')
      await drive(4500, () => Array.from({ length: 12 }, () => send('GET', `/orders/${rand(SEEDED)}`)))
    },
  },
  {
    // Missing ids: cached "not found" sentinels for a few repeated ones, then a Bloom filter rejecting random ones.
    name: 'penetration: null-cache, then bloom, under missing-id reads and creates',
    run: async () => {
      await adminCall('PUT', '/admin/strategies', { penetration: { mode: 'null-cache' } })
      await drive(1500, () => [...Array.from({ length: 6 }, () => send('GET', `/orders/${2_000_000 + rand(5)}`)), ...mixedBatch()])
      await adminCall('PUT', '/admin/strategies', { penetration: { mode: 'bloom' } })
      await waitFor('every replica to build its Bloom filter', async () => (await Promise.all(replicas.map((a) => a.inject({ url: '/admin/bloom', headers: admin })))).every((r) => r.statusCode === 200 && r.json().active === true && r.json().filter.trusted === true))
      await drive(2000, () => [...Array.from({ length: 6 }, () => send('GET', `/orders/${3_000_000_000 + rand(1_000_000)}`)), ...mixedBatch()])
      await adminCall('DELETE', '/admin/strategies')
    },
  },
  {
    // A hot key under concurrent misses with slow selects: one loader holds the lock, the others wait
    // (other replica) or join its load (same replica); then logical expiry serves it stale while rebuilding.
    name: 'breakdown: mutex under a hot-key stampede, then logical-expiry',
    run: async () => {
      await adminCall('PUT', '/admin/strategies', { breakdown: { mode: 'mutex', params: { lockWaitMs: 1000 } } })
      await adminCall('POST', '/admin/chaos', { fault: 'db-latency', params: { ms: 60, operations: ['select'] }, durationSeconds: 5 })
      for (let round = 0; round < 6; round++) {
        await adminCall('POST', '/admin/chaos/actions', { action: 'expire-key', params: { id: '7' } })
        await Promise.all(Array.from({ length: 16 }, () => send('GET', '/orders/7')))
        await sleep(150)
      }
      // A loader slower than lockWaitMs: the waiters time out and load anyway (lockFallback db).
      await adminCall('PUT', '/admin/strategies', { breakdown: { mode: 'mutex', params: { lockWaitMs: 20, lockFallback: 'db' } } })
      for (let round = 0; round < 3; round++) {
        await adminCall('POST', '/admin/chaos/actions', { action: 'expire-key', params: { id: '8' } })
        await Promise.all(Array.from({ length: 8 }, () => send('GET', '/orders/8')))
      }
      await adminCall('DELETE', '/admin/chaos')
      await adminCall('PUT', '/admin/strategies', { breakdown: { mode: 'logical-expiry' } })
      await adminCall('POST', '/admin/cache/warm', { ids: ['7'] })
      for (let round = 0; round < 6; round++) {
        await adminCall('POST', '/admin/chaos/actions', { action: 'expire-key', params: { id: '7' } })
        await Promise.all(Array.from({ length: 8 }, () => send('GET', '/orders/7')))
        await sleep(150)
      }
      await adminCall('DELETE', '/admin/strategies')
    },
  },
  {
    // Protected mode with a one-slot bulkhead: concurrent cold reads under slow selects are shed,
    // answered with last-known copies for the orders the replica served before.
    name: 'avalanche: protected mode sheds reads and answers from last-known copies',
    run: async () => {
      await adminCall('PUT', '/admin/strategies', { avalanche: { mode: 'protected', params: { dbMaxConcurrent: 1, dbMaxQueue: 1, dbWaitTimeoutMs: 50, degradedAnswer: 'last-known' } } })
      await drive(800, () => Array.from({ length: 6 }, () => send('GET', `/orders/${100 + rand(40)}`)))
      await adminCall('POST', '/admin/cache/flush')
      await adminCall('POST', '/admin/chaos', { fault: 'db-latency', params: { ms: 100, operations: ['select'] }, durationSeconds: 3 })
      await drive(2500, () => Array.from({ length: 12 }, () => send('GET', `/orders/${100 + rand(40)}`)))
      await adminCall('DELETE', '/admin/chaos')
      await adminCall('DELETE', '/admin/strategies')
    },
  },
  {
    // The read-path race made wide: a read loads the old row, an update commits and deletes, then the
    // read's fill lands: a stale entry the auditor finds. Then delayed double deletes run their jobs.
    name: 'consistency: stale entries from a widened race, audited; delayed double deletes',
    run: async () => {
      await adminCall('POST', '/admin/chaos', { fault: 'race-window', params: { ms: 400 } })
      await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const read = send('GET', `/orders/${150 + i}`)
          await sleep(100)
          await send('PUT', `/orders/${150 + i}`, { quantity: 7 })
          await read
        }),
      )
      await adminCall('DELETE', '/admin/chaos')
      await adminCall('POST', '/admin/consistency/audit', { scope: 'all' })
      await adminCall('PUT', '/admin/strategies', { consistency: { mode: 'delayed-double-delete', params: { doubleDeleteDelayMs: 300 } } })
      await drive(2000, () => [...Array.from({ length: 3 }, () => send('PUT', `/orders/${rand(60)}`, { quantity: rand(5) })), send('GET', `/orders/${rand(60)}`)])
      await sleep(600)
      await adminCall('POST', '/admin/consistency/audit', { scope: 'all' })
      await adminCall('DELETE', '/admin/strategies')
    },
  },
  {
    // A burst of creates in queue mode: accepted at once, written by the worker at its rate.
    name: 'write queue: a burst of creates drained by the worker',
    run: async () => {
      await adminCall('PUT', '/admin/strategies', { writes: { mode: 'queue', params: { queueRatePerSec: 25 } } })
      await Promise.all(Array.from({ length: 60 }, (_, i) => send('POST', '/orders', { userId: 1 + i, item: 'queued by the dashboards check', quantity: 1, amountCents: 999 })))
      await drive(1500, () => [send('GET', `/orders/${rand(60)}`)])
      let queue: unknown
      await waitFor(
        'the worker to drain the queue',
        async () => {
          queue = (await replicas[0]!.inject({ url: '/admin/queue', headers: admin })).json()
          return (queue as { depth: number }).depth === 0
        },
        20_000,
        200,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; queue ${JSON.stringify(queue)}; worker ${JSON.stringify(worker.status())}`)
      })
      await adminCall('DELETE', '/admin/strategies')
    },
  },
  {
    // Reads fall back to MySQL while Redis is gone, then return to the cache. Under avalanche
    // protection, so the circuit breaker opens and reads skip Redis without waiting.
    name: 'Redis outage and recovery',
    run: async () => {
      await adminCall('PUT', '/admin/strategies', { avalanche: { mode: 'protected', params: { breakerThreshold: 3, breakerHalfOpenMs: 500 } } })
      await redis.stop()
      await drive(2500, () => Array.from({ length: 6 }, () => send('GET', `/orders/${rand(60)}`)))
      await redis.startProcess()
      const back = Date.now() + 10_000
      for (const app of replicas) {
        while ((await app.inject('/readyz')).json().redis !== 'up') {
          if (Date.now() > back) throw new Error('a replica did not reconnect to Redis within 10 s')
          await sleep(100)
        }
      }
      await drive(2500, mixedBatch)
    },
  },
]

beforeAll(async () => {
  redis = await RedisServer.start()
  sandbox = await createSandbox({ redisUrl: redis.url })
  await sandbox.seed(SEEDED)
  for (let i = 0; i < 2; i++) {
    const app = await build(sandbox, { MYSQL_QUERY_TIMEOUT_MS: DB_TIMEOUT_MS, REDIS_COMMAND_TIMEOUT_MS: 100 })
    replicas.push(app)
    await app.listen({ port: 0, host: '127.0.0.1' })
  }
  // The order worker (as compose runs it, here in-process): the write-queue panels read its metrics.
  // Its Redis bound is generous (a timed-out read leaves messages pending until they are reclaimed),
  // and what it would leave pending is reclaimed after 3 s instead of 30 s.
  worker = await startTestWorker(sandbox, { MYSQL_QUERY_TIMEOUT_MS: 1000, REDIS_COMMAND_TIMEOUT_MS: 1000, WORKER_RETRY_MAX_MS: 1000, WORKER_CLAIM_IDLE_MS: 3000 })
  const targets = replicas.map((a) => `127.0.0.1:${(a.server.address() as AddressInfo).port}`)
  const workerTarget = `127.0.0.1:${worker.metricsPort}`
  prometheus = await PrometheusServer.start((self) => localConfig({ 'order-service': targets, 'order-worker': [workerTarget], prometheus: [self] }, SCRAPE_SECONDS))
  const deadline = Date.now() + 15_000
  while ((await prometheus.targets()).filter((t) => t.health === 'up').length < targets.length + 2) {
    if (Date.now() > deadline) throw new Error(`scrape targets not up within 15 s: ${JSON.stringify(await prometheus.targets())}`)
    await sleep(200)
  }

  started = Math.floor(Date.now() / 1000)
  k6 = new SimulatedK6Run(prometheus.url, `dashboards-check-${process.pid}`, composeTrendStats())
  let pushing = true
  const pusher = (async () => {
    while (pushing) {
      await k6.push()
      await sleep(1000)
    }
  })()

  try {
    for (const phase of PHASES) {
      try {
        await phase.run()
      } catch (err) {
        throw new Error(`traffic phase "${phase.name}" failed: ${(err as Error).message}`)
      }
    }
  } finally {
    pushing = false
    await pusher
  }
  // The last scrapes and evaluations.
  await sleep(2500)
  ended = Math.floor(Date.now() / 1000)
}, 240_000)

afterAll(async () => {
  await prometheus?.stop()
  await worker?.stop()
  for (const app of replicas) await app.close()
  await redis?.stop()
  await sandbox?.drop()
})

describe('the traffic this file drives', () => {
  it('reached both replicas and the worker, and produced the answers the panels are about (200, 201, 202, 404, 503)', async () => {
    expect(statuses.get(200)).toBeGreaterThan(0)
    expect(statuses.get(201)).toBeGreaterThan(0)
    expect(statuses.get(202)).toBeGreaterThan(0)
    expect(statuses.get(404)).toBeGreaterThan(0)
    expect(statuses.get(503)).toBeGreaterThan(0)
    const up = await prometheus.targets()
    expect(up.filter((t) => t.job === 'order-service' && t.health === 'up')).toHaveLength(2)
    expect(up.filter((t) => t.job === 'order-worker' && t.health === 'up')).toHaveLength(1)
  })
})

describe.each(DASHBOARDS.map((d) => ({ uid: d.model.uid as string, d })))('dashboard $uid', ({ d }) => {
  const queries = QUERIES.filter((query) => query.file === d)

  it('has queries to check', () => {
    expect(queries.length).toBeGreaterThan(0)
  })

  for (const query of queries) {
    it(`${query.where} returns data from Prometheus`, async () => {
      if (query.kind === 'variable') {
        const { selector, label } = parseLabelValues(query.expr)
        const values = await prometheus.labelValues(label, selector, started, ended)
        expect(values, `${query.expr} has no values`).toContain(k6.testid)
        return
      }
      const expr = substituteGrafanaVariables(query.expr, d, { stepSeconds: STEP_SECONDS, scrapeSeconds: SCRAPE_SECONDS, rangeSeconds: ended - started })
      const series = await prometheus.queryRange(expr, started, ended, STEP_SECONDS)
      const points = series.flatMap((s) => s.values.map(([, v]) => Number(v))).filter((v) => Number.isFinite(v))
      expect(points.length, `no data for ${expr} (${series.length} series)`).toBeGreaterThan(0)
    })
  }
})
