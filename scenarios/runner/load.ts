import { setTimeout as sleep } from 'node:timers/promises'
import * as hdr from 'hdr-histogram-js'
import { Pool, type Dispatcher } from 'undici'
import type { PlannedRequest } from '../lib/workload.js'
import type { Arrival } from './schemas.js'
import type { RequestRecord } from './types.js'

// Load generation on undici's connection pools: an open model (requests start on schedule whatever
// the latency; one due while maxInFlight are outstanding is not sent and counted as dropped) and a
// closed model (N virtual users, each sending its next request when the last one is answered).

const DEFAULT_MAX_IN_FLIGHT = 512
const DEFAULT_CONNECTIONS = 64
const VERSION = /"version":(\d+)/
const ID = /"id":"(\d+)"/

/** A latency histogram in microseconds (1 µs .. 10 min, 3 significant digits). */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
}

/**
 * One undici Pool per replica under load; requests go round-robin over them, or to the replica
 * their mix entry names (so every record knows which replica answered).
 */
export function createPools(baseUrls: string[], arrival: Arrival, timeoutMs: number): Pool[] {
  const perReplica = arrival.model === 'closed' ? Math.ceil(arrival.concurrency / baseUrls.length) : (arrival.connections ?? DEFAULT_CONNECTIONS)
  const opts = { connections: perReplica, pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 30_000 }
  return baseUrls.map((u) => new Pool(u, opts))
}

/** Live counters of a load run (read by the progress line and the sampler). */
export interface LoadCounters {
  sent: number
  completed: number
  errors: number
  dropped: number
  inFlight: number
}

export interface LoadOptions {
  /** One pool per replica (createPools). */
  pools: Pool[]
  next: () => PlannedRequest
  arrival: Arrival
  durationMs: number
  timeoutMs: number
  signal: AbortSignal
  /** Called per finished request (records only kept while measuring). */
  onRecord?: (rec: RequestRecord) => void
  /** performance.now() of time 0 for the records. */
  clockZero: number
  counters: LoadCounters
}

/** The pool a request goes to: its pinned replica (modulo the pools: one URL with --base-url), else round robin. */
function pickReplica(o: LoadOptions, req: PlannedRequest): number {
  if (o.pools.length === 1) return 0
  return (req.replica ?? o.counters.sent) % o.pools.length
}

/**
 * Sends one request and turns the answer into a record; an acknowledged create with `readBack` is
 * followed at once by a read of the new order (its own record; this promise covers both). Never throws.
 */
async function send(o: LoadOptions, req: PlannedRequest): Promise<void> {
  const c = o.counters
  c.sent++
  c.inFlight++
  const t0 = performance.now()
  let status = 0
  let body = ''
  let error: string | undefined
  const replica = pickReplica(o, req)
  try {
    const res = await o.pools[replica]!.request({
      method: req.method,
      path: req.path,
      headers: req.body !== undefined ? { 'content-type': 'application/json' } : undefined,
      body: req.body,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    } as Dispatcher.RequestOptions)
    status = res.statusCode
    body = await res.body.text()
  } catch (err) {
    error = (err as { code?: string }).code ?? (err as Error).message
  }
  const t1 = performance.now()
  c.inFlight--
  c.completed++
  if (status === 0 || status >= 500) c.errors++
  let version: number | undefined
  let id = req.id
  if (status >= 200 && status < 300) {
    const v = VERSION.exec(body)
    if (v) version = Number(v[1])
    if (req.kind === 'create') id = ID.exec(body)?.[1]
  }
  const readBack = req.kind === 'create' && req.readBack && id !== undefined ? req.readBack : undefined
  if (o.onRecord) {
    o.onRecord({
      kind: req.kind,
      tag: req.tag,
      id,
      status,
      start: t0 - o.clockZero,
      end: t1 - o.clockZero,
      latencyMs: t1 - t0,
      version,
      replica,
      ...(error ? { error } : {}),
    })
  }
  if (readBack) {
    await send(o, { kind: 'read', tag: readBack.tag, method: 'GET', path: `/orders/${id}`, id, ...(readBack.replica !== undefined ? { replica: readBack.replica } : {}) })
  }
}

/** Rate (requests/s) at elapsed ms, and the number of requests due by then. */
function schedule(arrival: Extract<Arrival, { model: 'open' }>) {
  const stages = arrival.stages ?? [{ seconds: Infinity, ratePerSec: arrival.ratePerSec }]
  return {
    dueBy(elapsedMs: number): number {
      let t = elapsedMs / 1000
      let due = 0
      for (const s of stages) {
        const span = Math.min(t, s.seconds)
        due += span * s.ratePerSec
        t -= span
        if (t <= 0) break
      }
      return Math.floor(due)
    },
    rateAt(elapsedMs: number): number {
      let t = elapsedMs / 1000
      for (const s of stages) {
        if (t < s.seconds) return s.ratePerSec
        t -= s.seconds
      }
      return stages[stages.length - 1]!.ratePerSec
    },
  }
}

/** Measured duration of an arrival: the sum of its stages, or the given duration. */
export function arrivalDurationSeconds(arrival: Arrival, durationSeconds: number): number {
  return arrival.model === 'open' && arrival.stages ? arrival.stages.reduce((s, x) => s + x.seconds, 0) : durationSeconds
}

/**
 * Runs the load for durationMs (or until aborted), then waits for the requests in flight (each is
 * bounded by the request timeout). Resolves when every sent request has finished.
 */
export async function runLoad(o: LoadOptions): Promise<void> {
  const started = performance.now()
  const pending = new Set<Promise<void>>()
  const track = (p: Promise<void>) => {
    pending.add(p)
    p.finally(() => pending.delete(p))
  }
  if (o.arrival.model === 'open') {
    const maxInFlight = o.arrival.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    const plan = schedule(o.arrival)
    let scheduled = 0
    for (;;) {
      // Requests due by the end are all sent (or dropped) even if the loop woke up late.
      const elapsed = Math.min(performance.now() - started, o.durationMs)
      const due = plan.dueBy(elapsed)
      while (scheduled < due) {
        scheduled++
        // Draw every request, sent or not, so the sequence is the same whatever was dropped.
        const req = o.next()
        if (o.counters.inFlight >= maxInFlight) o.counters.dropped++
        else track(send(o, req))
      }
      if (elapsed >= o.durationMs || o.signal.aborted) break
      const rate = plan.rateAt(elapsed)
      await sleep(rate > 0 ? Math.min(10, Math.max(1, 1000 / rate)) : 10)
    }
  } else {
    const deadline = started + o.durationMs
    const user = async () => {
      while (performance.now() < deadline && !o.signal.aborted) await send(o, o.next())
    }
    for (let i = 0; i < o.arrival.concurrency; i++) track(user())
  }
  while (pending.size > 0) await Promise.all([...pending])
}
