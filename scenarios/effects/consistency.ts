import { setTimeout as sleep } from 'node:timers/promises'
import { round } from '../runner/figures.js'
import { valueAt } from '../runner/prom.js'
import { defineScenario, type PhaseContext, type RequestRecord } from '../runner/types.js'

interface DelayedDeletesStatus {
  pending: number
  due: number
  nextDueInMs: number | null
  heldInMemory: number
}

interface AuditReport {
  compared: number
  stale: number
  maxStaleAgeMs: number
  truncated: boolean
}

export interface StaleReads {
  /** Updates answered 200 (with the version they wrote). */
  writes: number
  /** When the last of them was answered (ms since the measured start). */
  lastWriteAckMs: number
  /** Reads answered 200. */
  reads: number
  stale: number
  maxStalenessMs: number
}

/**
 * Stale reads, from the records alone: per order, the acknowledged writes (answer time, version)
 * against each read (start time, version it returned). A read is stale when a write of a newer
 * version was acknowledged before the read started; its staleness is the time from the first
 * acknowledgement of any newer version to the read's start.
 */
export function staleReads(records: RequestRecord[]): StaleReads {
  // Per order: the earliest acknowledgement of each version written.
  const acks = new Map<string, Map<number, number>>()
  let writes = 0
  let lastWriteAckMs = 0
  for (const r of records) {
    if (r.kind !== 'update' || r.status !== 200 || r.version === undefined || r.id === undefined) continue
    writes++
    lastWriteAckMs = Math.max(lastWriteAckMs, r.end)
    let byVersion = acks.get(r.id)
    if (!byVersion) acks.set(r.id, (byVersion = new Map()))
    byVersion.set(r.version, Math.min(byVersion.get(r.version) ?? Infinity, r.end))
  }
  // Per order, versions from the newest down, each with the earliest acknowledgement of it or any newer one.
  const newest = new Map<string, { version: number; firstAck: number }[]>()
  for (const [id, byVersion] of acks) {
    let min = Infinity
    newest.set(
      id,
      [...byVersion.keys()].sort((a, b) => b - a).map((version) => ({ version, firstAck: (min = Math.min(min, byVersion.get(version)!)) })),
    )
  }
  /** The earliest acknowledgement of a version above v (Infinity if none). */
  const firstAckAbove = (id: string, v: number): number => {
    const list = newest.get(id)
    if (!list) return Infinity
    // The versions above v are a prefix of the list: find its last element.
    let lo = 0
    let hi = list.length - 1
    let found = Infinity
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (list[mid]!.version > v) {
        found = list[mid]!.firstAck
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }
  let reads = 0
  let stale = 0
  let maxStalenessMs = 0
  for (const r of records) {
    if (r.kind !== 'read' || r.status !== 200 || r.version === undefined || r.id === undefined) continue
    reads++
    const ack = firstAckAbove(r.id, r.version)
    if (ack < r.start) {
      stale++
      maxStalenessMs = Math.max(maxStalenessMs, r.start - ack)
    }
  }
  return { writes, lastWriteAckMs, reads, stale, maxStalenessMs }
}

const ANSWERED = 'http_request_duration_seconds_count{route="/orders/:id"}'
const UNANSWERED_WAIT_MS = 30_000

/**
 * A request the client gave up on may still run in the service (a write about to commit and
 * invalidate): an audit then would count writes in progress as stale entries. Waits until the
 * service has answered as many order requests as the client sent.
 */
async function waitForUnanswered(ctx: PhaseContext): Promise<void> {
  const { records, target, metrics, note } = ctx
  if (!records.some((r) => r.status === 0)) return
  const deadline = Date.now() + UNANSWERED_WAIT_MS
  for (;;) {
    const answered = valueAt(await target.scrape(), ANSWERED) - metrics.startValue(ANSWERED)
    if (answered >= records.length) return
    if (Date.now() > deadline) return note(`${records.length - answered} requests still unanswered by the service after ${UNANSWERED_WAIT_MS} ms; audited anyway`)
    await sleep(200)
  }
}

// Delete jobs already due but not run yet (a busy machine runs them late) are waited for, up to
// this long after the delay: the figure is "stale after the delay", not "a due job has not run yet".
// A job that never runs still shows as stale entries.
const DUE_JOBS_WAIT_MS = 5000

/**
 * "After the load stops and the longest delay has passed": the second deletes of the last writes
 * are due doubleDeleteDelayMs after their commit. Waits until then, and until no delete job that
 * is due (a second delete or a retry of a failed delete) is left.
 */
async function waitForDeleteJobs(ctx: PhaseContext, lastWriteAckMs: number): Promise<void> {
  const { phase, admin, measuredStartedAt, note } = ctx
  const delayMs = Number(phase.strategies?.consistency?.params?.doubleDeleteDelayMs ?? 0)
  const started = Date.now()
  if (delayMs > 0) await sleep(Math.max(0, measuredStartedAt + lastWriteAckMs + delayMs - Date.now()))
  const deadline = Date.now() + DUE_JOBS_WAIT_MS
  const unfinished = (d: DelayedDeletesStatus) => d.due > 0 || d.heldInMemory > 0 || (d.nextDueInMs !== null && d.nextDueInMs <= 0)
  let jobs = (await admin.call<{ delayedDeletes: DelayedDeletesStatus }>('GET', '/admin/consistency')).delayedDeletes
  while (unfinished(jobs) && Date.now() < deadline) {
    await sleep(100)
    jobs = (await admin.call<{ delayedDeletes: DelayedDeletesStatus }>('GET', '/admin/consistency')).delayedDeletes
  }
  if (unfinished(jobs)) note(`${jobs.due} delete jobs still due ${DUE_JOBS_WAIT_MS} ms after the delay; audited anyway`)
  else if (delayMs > 0) note(`audited ${Date.now() - started} ms after the load: last write + ${delayMs} ms delay, no delete job due`)
}

export default defineScenario({
  name: 'consistency',
  async effects(ctx) {
    const s = staleReads(ctx.records)
    await waitForUnanswered(ctx)
    await waitForDeleteJobs(ctx, s.lastWriteAckMs)
    // Every cached order against MySQL (the consistency auditor; it confirms each stale entry by a
    // second cache read after the MySQL read, so an entry replaced meanwhile is not counted).
    const audit = await ctx.admin.call<AuditReport>('POST', '/admin/consistency/audit', { scope: 'all' })
    if (audit.truncated) ctx.note('the audit did not reach every cached order')
    if (audit.stale > 0) ctx.note(`audit: ${audit.stale} of ${audit.compared} cached orders older than MySQL (the oldest ${audit.maxStaleAgeMs} ms behind)`)
    return {
      writes: s.writes,
      reads: s.reads,
      staleReads: s.stale,
      staleReadRate: s.reads > 0 ? round(s.stale / s.reads, 4) : null,
      staleEntriesAfter: audit.stale,
      maxStalenessMs: s.reads > 0 ? round(s.maxStalenessMs, 1) : null,
    }
  },
})
