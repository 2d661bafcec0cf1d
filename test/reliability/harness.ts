import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { expect } from 'vitest'

/**
 * What the fault tests share: light load over real HTTP, and the properties checked afterwards.
 * Every request is recorded (what was sent, what came back, how long it took); the checks read
 * those records and MySQL, never the service's own opinion of itself.
 */

export interface Sample {
  kind: 'read' | 'write'
  path: string
  /** Unique per write: how its row is found in MySQL afterwards. */
  item?: string
  startedAt: number
  ms: number
  status: number
  body: unknown
  /** Set when no well-formed HTTP answer came back (reset, hang past the client's limit, bad JSON). */
  failure?: string
}

export interface LoadOptions {
  /** Concurrent clients, each one request at a time. */
  clients: number
  /** Pause between a client's requests (light load). */
  thinkMs: number
  /** Reads pick ids 1..seeded. */
  seeded: number
  /** Share of requests that are writes (POST /orders). */
  writeShare: number
  /** The client gives up after this long: a request still open then counts as hung. */
  clientLimitMs: number
  /** Prefix of the items written (so a test's rows are found again). */
  tag: string
}

export class Load {
  readonly samples: Sample[] = []
  private running = true
  private readonly done: Promise<void>[]
  private seq = 0

  constructor(
    private readonly baseUrl: string,
    private readonly o: LoadOptions,
  ) {
    this.done = Array.from({ length: o.clients }, (_, i) => this.client(i))
  }

  async stop(): Promise<Sample[]> {
    this.running = false
    await Promise.all(this.done)
    return this.samples
  }

  private async client(i: number): Promise<void> {
    let n = 0
    while (this.running) {
      const write = Math.random() < this.o.writeShare
      if (write) await this.one('write', '/orders', `${this.o.tag}-${i}-${n++}-${this.seq++}`)
      else await this.one('read', `/orders/${1 + Math.floor(Math.random() * this.o.seeded)}`)
      await sleep(this.o.thinkMs)
    }
  }

  private async one(kind: Sample['kind'], path: string, item?: string): Promise<void> {
    const startedAt = performance.now()
    const sample: Sample = { kind, path, item, startedAt, ms: 0, status: 0, body: undefined }
    try {
      const res = await request(this.baseUrl + path, {
        method: kind === 'write' ? 'POST' : 'GET',
        headers: kind === 'write' ? { 'content-type': 'application/json' } : {},
        body: kind === 'write' ? JSON.stringify({ userId: 1, item, quantity: 1, amountCents: 100 }) : undefined,
        headersTimeout: this.o.clientLimitMs,
        bodyTimeout: this.o.clientLimitMs,
      })
      sample.status = res.statusCode
      const text = await res.body.text()
      try {
        sample.body = JSON.parse(text)
      } catch {
        sample.failure = `not JSON: ${text.slice(0, 80)}`
      }
    } catch (err) {
      sample.failure = `${(err as Error).name}: ${(err as Error).message}`
    }
    sample.ms = performance.now() - startedAt
    this.samples.push(sample)
  }
}

/** A short summary for the test's output: how many of what. */
export function summarize(samples: Sample[]): string {
  const counts = new Map<string, number>()
  for (const s of samples) {
    const code = (s.body as { code?: string } | undefined)?.code
    const key = `${s.kind} ${s.failure ? 'FAILED' : s.status}${code && s.status >= 400 ? ` ${code}` : ''}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].sort().map(([k, v]) => `${k}: ${v}`).join(', ')
}

/**
 * Property "no request hangs past its timeout": the longest request, against the bound the
 * configuration implies (the sum of the timeouts on its path) plus slack for a busy machine.
 */
export function slowest(samples: Sample[]): Sample | undefined {
  return samples.reduce<Sample | undefined>((a, s) => (!a || s.ms > a.ms ? s : a), undefined)
}

/**
 * Property "every response is well-formed": an HTTP answer with a JSON body; 2xx for a success,
 * else a 503 with one of our codes and a message (an outage is not a bug: no 500, no reset).
 * Returns the offending samples.
 */
export function malformed(samples: Sample[]): Sample[] {
  return samples.filter((s) => {
    if (s.failure) return true
    const body = s.body as { id?: unknown; code?: unknown; message?: unknown } | null
    if (s.status === 200 || s.status === 201) return typeof body?.id !== 'string'
    return !(s.status === 503 && typeof body?.code === 'string' && body.code.startsWith('CACHELAB_') && typeof body.message === 'string' && body.message.length > 0)
  })
}

export interface OrderAudit {
  accepted: number
  refused: number
  unknown: number
  /** Accepted (201) writes whose row is missing or differs. */
  lost: string[]
  /** Items with more than one row. */
  duplicated: string[]
  /** Refused as "not written" (503 other than CACHELAB_DB_WRITE_UNKNOWN) but present. */
  ghosts: string[]
  /** Of the "may have been written" answers, how many were. */
  unknownWritten: number
}

/**
 * Property "no accepted order lost or duplicated", from MySQL itself: every 201 has exactly its
 * row (same id), no item has two rows, and a 503 that said "not written" wrote nothing.
 */
export async function auditOrders(app: FastifyInstance, tag: string, samples: Sample[]): Promise<OrderAudit> {
  const [rows] = await app.mysql.query('SELECT id, item FROM orders WHERE item LIKE ?', [`${tag}-%`])
  const byItem = new Map<string, string[]>()
  for (const r of rows as { id: string; item: string }[]) byItem.set(r.item, [...(byItem.get(r.item) ?? []), String(r.id)])
  const audit: OrderAudit = { accepted: 0, refused: 0, unknown: 0, lost: [], duplicated: [], ghosts: [], unknownWritten: 0 }
  for (const [item, ids] of byItem) if (ids.length > 1) audit.duplicated.push(item)
  for (const s of samples) {
    if (s.kind !== 'write') continue
    const ids = byItem.get(s.item!) ?? []
    const body = s.body as { id?: string; code?: string } | undefined
    if (s.status === 201) {
      audit.accepted++
      if (ids.length !== 1 || ids[0] !== body?.id) audit.lost.push(s.item!)
    } else if (body?.code === 'CACHELAB_DB_WRITE_UNKNOWN') {
      audit.unknown++
      if (ids.length > 0) audit.unknownWritten++
    } else {
      audit.refused++
      if (ids.length > 0) audit.ghosts.push(s.item!)
    }
  }
  return audit
}

export interface QueueBounds {
  /** ioredis: commands waiting for a connection (must stay 0: no offline queue). */
  redisOffline: number
  /** ioredis: commands sent and not answered yet. */
  redisPending: number
  /** mysql2: requests waiting for a pool connection (bounded by queueLimit). */
  mysqlWaiting: number
  heapUsedMb: number
}

/**
 * Property "memory stays bounded": the queues that grow during an outage, sampled every 50 ms
 * while it lasts (their maxima are what the test bounds), and the heap for the record.
 */
export function watchQueues(app: FastifyInstance): { stop(): QueueBounds } {
  const max: QueueBounds = { redisOffline: 0, redisPending: 0, mysqlWaiting: 0, heapUsedMb: 0 }
  const redis = app.redis as unknown as { offlineQueue?: { length: number }; commandQueue?: { length: number } }
  const pool = (app.mysql as unknown as { pool: { _connectionQueue: { length: number } } }).pool
  const sample = () => {
    max.redisOffline = Math.max(max.redisOffline, redis.offlineQueue?.length ?? 0)
    max.redisPending = Math.max(max.redisPending, redis.commandQueue?.length ?? 0)
    max.mysqlWaiting = Math.max(max.mysqlWaiting, pool._connectionQueue.length)
    max.heapUsedMb = Math.max(max.heapUsedMb, Math.round(process.memoryUsage().heapUsed / 1e6))
  }
  const timer = setInterval(sample, 50)
  return {
    stop() {
      clearInterval(timer)
      sample()
      return max
    },
  }
}

/**
 * Property "recovers by itself": from the moment the fault clears, polls until a read that must
 * go to MySQL (a fresh id, so a cache miss), a write, and /readyz (Redis and MySQL both up) all succeed; returns
 * the time that took, or throws past `limitMs`. Nothing is done to help the service recover.
 */
export async function timeToRecover(baseUrl: string, opts: { limitMs: number; readId: () => string; tag: string }): Promise<number> {
  const started = performance.now()
  let n = 0
  while (performance.now() - started < opts.limitMs) {
    if (await recovered(baseUrl, opts.readId(), `${opts.tag}-probe-${n++}`)) return Math.round(performance.now() - started)
    await sleep(50)
  }
  throw new Error(`the service did not recover within ${opts.limitMs} ms after the fault cleared`)
}

async function recovered(baseUrl: string, readId: string, item: string): Promise<boolean> {
  const get = async (path: string) => {
    const res = await request(baseUrl + path, { headersTimeout: 5000, bodyTimeout: 5000 })
    await res.body.text()
    return res
  }
  try {
    const ready = await request(`${baseUrl}/readyz`, { headersTimeout: 5000, bodyTimeout: 5000 })
    if ((await ready.body.json() as { status: string }).status !== 'ok') return false
    if ((await get(`/orders/${readId}`)).statusCode !== 200) return false
    const w = await request(`${baseUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 1, item, quantity: 1, amountCents: 1 }),
      headersTimeout: 5000,
      bodyTimeout: 5000,
    })
    await w.body.text()
    return w.statusCode === 201
  } catch {
    return false
  }
}

/** A line for the test output (and the issue's closing note). */
export function report(fault: string, line: string): void {
  console.log(`[reliability] ${fault}: ${line}`)
}

export interface FaultRun {
  /** Unhandled rejections and uncaught exceptions in this process while the fault ran. */
  unhandled: string[]
  samples: Sample[]
  queues: QueueBounds
  recoveryMs: number
  audit: OrderAudit
  slowest: Sample | undefined
  malformed: Sample[]
}

/**
 * One fault under light load: a calm second, the fault for `holdMs`, then clear it and measure the
 * time to recover; the load runs throughout and a little after. Prints what it saw.
 */
export async function runFault(opts: {
  name: string
  app: FastifyInstance
  baseUrl: string
  seeded: number
  tag: string
  inject(): Promise<void>
  clear(): Promise<void>
  holdMs: number
  recoveryLimitMs: number
  load?: Partial<LoadOptions>
}): Promise<FaultRun> {
  const load = new Load(opts.baseUrl, { clients: 4, thinkMs: 15, seeded: opts.seeded, writeShare: 0.3, clientLimitMs: 30_000, tag: opts.tag, ...opts.load })
  const queues = watchQueues(opts.app)
  // Vitest would fail the run on one too; collecting them names the fault that caused it.
  const unhandled: string[] = []
  const onUnhandled = (err: unknown) => void unhandled.push(String((err as Error)?.stack ?? err))
  process.on('unhandledRejection', onUnhandled)
  let recoveryMs: number
  let clearMs = 0
  let nextFresh = opts.seeded
  try {
    await sleep(700)
    await opts.inject()
    await sleep(opts.holdMs)
    const clearing = performance.now()
    await opts.clear()
    clearMs = Math.round(performance.now() - clearing)
    // Fresh ids are seeded beyond the load's range, so each probe read is a miss that reaches MySQL.
    recoveryMs = await timeToRecover(opts.baseUrl, { limitMs: opts.recoveryLimitMs, readId: () => String(++nextFresh), tag: opts.tag })
    await sleep(500)
  } finally {
    await load.stop()
    process.off('unhandledRejection', onUnhandled)
  }
  const bounds = queues.stop()
  const run: FaultRun = {
    unhandled,
    samples: load.samples,
    queues: bounds,
    recoveryMs,
    audit: await auditOrders(opts.app, opts.tag, load.samples),
    slowest: slowest(load.samples),
    malformed: malformed(load.samples),
  }
  const a = run.audit
  report(opts.name, `fault held ${opts.holdMs} ms, clearing it took ${clearMs} ms (e.g. a restart), then recovered in ${recoveryMs} ms (limit ${opts.recoveryLimitMs}); ${load.samples.length} requests, slowest ${Math.round(run.slowest?.ms ?? 0)} ms; ${summarize(load.samples)}`)
  report(opts.name, `writes: ${a.accepted} accepted, ${a.refused} refused, ${a.unknown} unknown (${a.unknownWritten} of them written); max queues: redis offline ${bounds.redisOffline}, redis pending ${bounds.redisPending}, mysql waiting ${bounds.mysqlWaiting}; heap ${bounds.heapUsedMb} MB`)
  return run
}

/**
 * The properties every fault test checks (each test names them): no unhandled rejection, every
 * answer well-formed, nothing slower than the path's timeouts allow, no order lost, duplicated or
 * written behind a "not written" answer, no offline queue, the queues within their limits, and
 * some of the load ran during the fault (else nothing was tested).
 */
export function expectSurvived(run: FaultRun, bounds: { slowestMs: number; mysqlWaiting: number; redisPending?: number }): void {
  expect(run.unhandled).toEqual([])
  expect(run.malformed.map((s) => ({ path: s.path, status: s.status, failure: s.failure, body: s.body }))).toEqual([])
  expect(run.slowest!.ms).toBeLessThan(bounds.slowestMs)
  expect(run.audit.lost).toEqual([])
  expect(run.audit.duplicated).toEqual([])
  expect(run.audit.ghosts).toEqual([])
  expect(run.queues.redisOffline).toBe(0)
  if (bounds.redisPending !== undefined) expect(run.queues.redisPending).toBeLessThanOrEqual(bounds.redisPending)
  // The pool's wait queue never exceeds its limit (beyond it a query fails at once).
  expect(run.queues.mysqlWaiting).toBeLessThanOrEqual(bounds.mysqlWaiting)
  expect(run.samples.length).toBeGreaterThan(50)
}
