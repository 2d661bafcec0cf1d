import { setTimeout as sleep } from 'node:timers/promises'
import type { Pool, RowDataPacket } from 'mysql2/promise'
import { round } from '../runner/figures.js'
import { arrivalDurationSeconds } from '../runner/load.js'
import type { Definition, Series } from '../runner/schemas.js'
import { defineScenario, type PhaseContext, type RequestRecord } from '../runner/types.js'

interface QueueView {
  depth: number
  deadLetters: number
}

// Per run (the definition object a run passes to every phase): the highest order id before each
// phase (rows above it were written by the phase: ids are time-ordered and far above the seed),
// and sync's accept p99 for the queue phases' ratio.
const runs = new WeakMap<Definition, { maxIdBefore: Map<string, string>; syncAcceptP99?: number | null }>()
const stateOf = (def: Definition) => {
  let s = runs.get(def)
  if (!s) runs.set(def, (s = { maxIdBefore: new Map() }))
  return s
}

const DRAIN_WAIT_MS = 120_000
// The limiter lets at most burst + rate × T writes start in any T seconds (burst = rate / 10): 1.1 ×
// the rate over 1 s, 1.05 × over 2 s. Scrapes are stamped when sent and answered tens of ms later on
// a busy machine, which over 1 s is as large as the headroom; over 2 s it is half as large.
const PEAK_WINDOW_MS = 2000
const ID = /^[1-9][0-9]{0,18}$/

/** Nearest-rank percentile of a list of numbers (null when empty). */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/**
 * The highest per-second rate over windows of about `windowMs` made of consecutive samples of a
 * rate series: each sample is the rate over the interval since the one before (stamped at scrape
 * time); `firstAt` is when the interval of the first sample began. Null without a full window.
 */
export function peakRate(t: number[], rates: (number | null)[], firstAt: number, intervalMs: number, windowMs = 1000): number | null {
  const k = Math.max(1, Math.round(windowMs / intervalMs))
  let peak: number | null = null
  for (let end = k - 1; end < t.length; end++) {
    let count = 0
    let seconds = 0
    for (let i = end - k + 1; i <= end; i++) {
      const dt = t[i]! - (i === 0 ? firstAt : t[i - 1]!)
      count += (rates[i] ?? 0) * dt
      seconds += dt
    }
    if (seconds > 0) peak = Math.max(peak ?? 0, count / seconds)
  }
  return peak === null ? null : round(peak, 1)
}

/** Inserts MySQL completed without an error, per second, per sample (completions minus failures). */
function writesPerSec(series: Series): (number | null)[] {
  const done = series.extra.insertsDonePerSec ?? []
  const failed = series.extra.insertErrorsPerSec ?? []
  return done.map((d, i) => (d === null ? null : Math.max(0, d - (failed[i] ?? 0))))
}

/**
 * Waits until no row is being added to the table (the count above `afterId` unchanged for a second):
 * in sync mode a create that got its 503 at the deadline while waiting for a connection may still
 * be written once it gets one, and such rows belong to this phase, not the next.
 */
async function waitForQuietTable(mysql: Pool, afterId: string): Promise<void> {
  const deadline = Date.now() + 30_000
  let last = -1
  let stableSince = Date.now()
  while (Date.now() < deadline) {
    const { rows } = await phaseRows(mysql, afterId)
    if (rows !== last) {
      last = rows
      stableSince = Date.now()
    } else if (Date.now() - stableSince >= 1000) return
    await sleep(250)
  }
}

/** When the queue was first sampled empty at or after `fromSeconds` (seconds since the measured start). */
function firstEmptySample(series: Series, fromSeconds: number): number | undefined {
  const depth = series.extra.queueDepth ?? []
  for (let i = 0; i < series.t.length; i++) if (series.t[i]! >= fromSeconds && depth[i] === 0) return series.t[i]
  return undefined
}

/** Waits until the queue is empty (every accepted order written or dead-lettered); returns when that was seen. */
async function waitForDrain(ctx: PhaseContext): Promise<{ emptyAt: number | undefined; view: QueueView }> {
  const deadline = Date.now() + DRAIN_WAIT_MS
  for (;;) {
    const view = await ctx.admin.call<QueueView>('GET', '/admin/queue')
    if (view.depth === 0) return { emptyAt: (Date.now() - ctx.measuredStartedAt) / 1000, view }
    if (Date.now() > deadline) {
      ctx.note(`the queue still holds ${view.depth} orders ${DRAIN_WAIT_MS / 1000} s after the phase: they count as lost`)
      return { emptyAt: undefined, view }
    }
    await sleep(200)
  }
}

/** Digits only (checked), so ids can be written as BIGINT literals: a string compared with BIGINT goes through a double and loses digits. */
function idList(ids: string[]): string {
  for (const id of ids) if (!ID.test(id)) throw new Error(`not an order id: ${id}`)
  return ids.join(',')
}

async function maxOrderId(mysql: Pool): Promise<string> {
  const [rows] = await mysql.query<RowDataPacket[]>('SELECT CAST(COALESCE(MAX(id), 0) AS CHAR) AS m FROM orders')
  return String(rows[0]!.m)
}

/** Rows per accepted id (ids absent from MySQL have none). */
async function rowsPerId(mysql: Pool, ids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000)
    const [rows] = await mysql.query<RowDataPacket[]>(`SELECT CAST(id AS CHAR) AS id, COUNT(*) AS n FROM orders WHERE id IN (${idList(chunk)}) GROUP BY id`)
    for (const r of rows) out.set(String(r.id), Number(r.n))
  }
  return out
}

/** Rows written during the phase, and how many distinct orders they hold (content and acceptance time). */
async function phaseRows(mysql: Pool, afterId: string): Promise<{ rows: number; distinct: number }> {
  const [rows] = await mysql.query<RowDataPacket[]>('SELECT COUNT(*) AS n, COUNT(DISTINCT user_id, item, quantity, amount_cents, created_at) AS d FROM orders WHERE id > CAST(? AS SIGNED)', [afterId])
  return { rows: Number(rows[0]!.n), distinct: Number(rows[0]!.d) }
}

const isAccepted = (r: RequestRecord) => r.kind === 'create' && (r.status === 201 || r.status === 202) && r.id !== undefined

export default defineScenario({
  name: 'peak-shaving',
  async beforePhase({ scenario, phase, mysql }) {
    if (mysql) stateOf(scenario).maxIdBefore.set(phase.name, await maxOrderId(mysql))
  },
  async effects(ctx) {
    const { scenario, phase, records, series, mysql, note } = ctx
    const state = stateOf(scenario)
    const w = phase.workload
    const burstEnd = arrivalDurationSeconds(w.arrival, w.durationSeconds)
    const creates = records.filter((r) => r.kind === 'create')
    const accepted = creates.filter(isAccepted)
    const acceptedIds = [...new Set(accepted.map((r) => r.id!))]
    const refusals = new Map<string, number>()
    for (const r of creates) if (!isAccepted(r)) refusals.set(String(r.status), (refusals.get(String(r.status)) ?? 0) + 1)
    if (refusals.size > 0) note(`refused or unanswered creates by status: ${[...refusals].map(([s, n]) => `${s === '0' ? 'no answer' : s}: ${n}`).join(', ')}`)

    // Every accepted order must be written before it is looked up: wait for the queue to empty.
    const { emptyAt, view } = await waitForDrain(ctx)
    if (view.deadLetters > 0) note(`${view.deadLetters} orders in the dead-letter queue (not in MySQL: counted as lost)`)

    let persisted: number | null = null
    let ordersLost: number | null = null
    let ordersDuplicated: number | null = null
    if (mysql) {
      const before = state.maxIdBefore.get(phase.name)
      if (before !== undefined) await waitForQuietTable(mysql, before)
      const perId = await rowsPerId(mysql, acceptedIds)
      persisted = perId.size
      ordersLost = acceptedIds.length - persisted
      const extraRowsPerId = [...perId.values()].reduce((s, n) => s + n - 1, 0)
      if (before !== undefined) {
        const { rows, distinct } = await phaseRows(mysql, before)
        ordersDuplicated = rows - distinct + extraRowsPerId
        // Rows of creates the client saw refused or unanswered (committed after their deadline).
        const unacknowledged = distinct - persisted
        if (unacknowledged > 0) note(`${unacknowledged} orders written that the client did not see accepted (answered after their deadline, or no answer): not counted as accepted`)
      } else note('no row count before the phase: duplicates not measured')
      if (ordersLost > 0) note(`${ordersLost} accepted orders are not in MySQL`)
    } else note('no MySQL connection (remote run without MYSQL_URL): persistence not measured')

    const acceptP99 = percentile(
      accepted.map((r) => r.latencyMs),
      99,
    )
    const mode = phase.strategies?.writes?.mode ?? 'sync'
    if (phase.name === 'sync') state.syncAcceptP99 = acceptP99
    const sync = state.syncAcceptP99
    const acceptP99VsSync = phase.name !== 'sync' && acceptP99 !== null && sync ? round(acceptP99 / sync, 4) : null
    if (phase.name !== 'sync' && sync === undefined) note('sync did not run before this phase: acceptP99VsSync not measured')

    // The last accepted order reached MySQL: in sync with its 201; in queue mode when the queue was
    // first seen empty after the burst (in the samples, else while waiting above).
    const lastAckSeconds = accepted.reduce((m, r) => Math.max(m, r.end), 0) / 1000
    const drainedAt = mode === 'queue' ? (firstEmptySample(series, burstEnd) ?? emptyAt) : lastAckSeconds
    const firstAt = (ctx.metrics.start.at - ctx.measuredStartedAt) / 1000
    const reclaimed = ctx.metrics.delta('cachelab_queue_reclaimed_total')
    if (reclaimed > 0) note(`${reclaimed} messages taken over from a crashed worker (cachelab_queue_reclaimed_total)`)
    const served = ctx.metrics.delta('http_request_duration_seconds_count{route="/orders",method="POST"}')
    if (served > 0) note(`service-side mean POST /orders: ${round((ctx.metrics.delta('http_request_duration_seconds_sum{route="/orders",method="POST"}') / served) * 1000, 1)} ms`)
    const depths = (series.extra.queueDepth ?? []).filter((v): v is number => v !== null)
    return {
      accepted: acceptedIds.length,
      rejected: creates.length - accepted.length,
      persisted,
      ordersLost,
      ordersDuplicated,
      acceptP99Ms: acceptP99 === null ? null : round(acceptP99, 1),
      acceptP99VsSync,
      peakDbWritesPerSec: peakRate(series.t, writesPerSec(series), firstAt, series.intervalMs, PEAK_WINDOW_MS),
      maxQueueDepth: depths.length > 0 ? Math.max(...depths) : null,
      drainSeconds: drainedAt === undefined ? null : round(Math.max(0, drainedAt - burstEnd), 2),
    }
  },
})
