import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { CacheKeys } from '../cache/keys.js'
import type { Metrics } from '../metrics.js'
import type { StrategyContext } from '../strategies/types.js'
import { defineScript } from './scripts.js'

/** `second_delete`: the delayed half of a double delete. `retry`: a delete that failed after a commit. */
export type DeleteJobKind = 'second_delete' | 'retry'
const KIND_CODE: Record<DeleteJobKind, string> = { second_delete: 'd', retry: 'r' }
const CODE_KIND: Record<string, DeleteJobKind> = { d: 'second_delete', r: 'retry' }

export interface DeleteJob {
  /** The job's member in the sorted set: `<kind code>|<order id>|<token>` (one per write). */
  member: string
  id: string
  kind: DeleteJobKind
  /** 1 on the first claim; more when an earlier attempt failed or its replica died holding it. */
  attempt: number
  /** Its score when claimed: the due time on a first attempt, a lapsed lease after that. */
  dueAt: number
}

export interface DelayedDeletesStatus {
  /** Jobs in Redis not done yet (due or not), plus jobs held in memory while Redis was unreachable. */
  pending: number
  /** Of those in Redis, how many are due now (claimed and running, or waiting for a replica). */
  due: number
  /** When the next job in Redis is due, from now (negative: overdue); null when none. */
  nextDueInMs: number | null
  heldInMemory: number
}

export interface DelayedDeletesOptions {
  /** Safety-net poll for jobs other replicas scheduled (each replica also wakes at the next due time). */
  pollMs?: number
  /** Jobs claimed per round trip. */
  batchSize?: number
  /** A claimed job comes back to every replica after this long if not done; doubles per attempt. */
  leaseMs?: number
  maxLeaseMs?: number
}

type Log = { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }

// Claims the due jobs atomically: each is leased (its score moves to now + lease, growing with the
// attempt count) so no other replica takes it meanwhile, and comes back by itself if the claimer
// dies or fails. Returns member, score, attempt per job, then the set size and the next due score.
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  local member = due[i]
  local attempt = redis.call('HINCRBY', KEYS[2], member, 1)
  local lease = math.min(tonumber(ARGV[3]) * 2 ^ (attempt - 1), tonumber(ARGV[4]))
  redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', tonumber(ARGV[1]) + lease), member)
  out[#out + 1] = member
  out[#out + 1] = due[i + 1]
  out[#out + 1] = attempt
end
out[#out + 1] = redis.call('ZCARD', KEYS[1])
local nextDue = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
out[#out + 1] = nextDue[2] or ''
return out
`

// The delete and the job's removal in one step: a job is never gone without its delete having run.
// Returns 1 when this call removed the job (0: another replica already did it; the DEL is harmless).
const COMPLETE = `
redis.call('DEL', KEYS[3])
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return removed
`

/**
 * Durable cache deletes: a Redis sorted set of jobs scored by due time, run by every replica.
 * A job is written before the MySQL write it follows, so a process that dies between the two
 * deletes of a double delete leaves it behind for another replica (or itself after a restart).
 * A failed delete stays in the set and is retried with a growing lease; a job Redis cannot take at
 * all (Redis unreachable) is held in memory and handed over when Redis answers again.
 * Deletes are idempotent, so running a job twice (a lease that lapsed mid-delete) is harmless.
 */
export class DelayedDeletes {
  readonly jobsKey: string
  private readonly attemptsKey: string
  private readonly claimScript: (keys: string[], args: (string | number)[]) => Promise<(string | number)[]>
  private readonly completeScript: (keys: string[], args: (string | number)[]) => Promise<number>
  private readonly held = new Map<string, number>()
  private readonly pollMs: number
  private readonly batchSize: number
  private readonly leaseMs: number
  private readonly maxLeaseMs: number
  private pollTimer: NodeJS.Timeout | undefined
  private wakeTimer: NodeJS.Timeout | undefined
  private wakeAt = Infinity
  private running: Promise<void> | undefined
  private rerun = false
  private stopped = true
  private lastWarnAt = 0
  private readonly m

  constructor(
    private readonly redis: Redis,
    private readonly keys: CacheKeys,
    private readonly metrics: Metrics,
    private readonly log: Log,
    opts: DelayedDeletesOptions = {},
  ) {
    this.jobsKey = keys.named('consistency:delete-jobs')
    this.attemptsKey = keys.named('consistency:delete-jobs:attempts')
    this.pollMs = opts.pollMs ?? 200
    this.batchSize = opts.batchSize ?? 100
    this.leaseMs = opts.leaseMs ?? 2000
    this.maxLeaseMs = opts.maxLeaseMs ?? 30_000
    this.claimScript = defineScript(redis, 'cachelabClaimDeleteJobs', 2, CLAIM)
    this.completeScript = defineScript(redis, 'cachelabCompleteDeleteJob', 3, COMPLETE)
    this.m = {
      scheduled: metrics.counter('cachelab_delayed_deletes_scheduled_total', 'Cache delete jobs written (second deletes of a double delete; retries of failed deletes), by kind', ['kind']),
      done: metrics.counter('cachelab_delayed_deletes_done_total', 'Cache delete jobs run to completion, by kind', ['kind']),
      failed: metrics.counter('cachelab_delayed_deletes_failed_total', 'Attempts at a claimed delete job that failed (the job stays pending and is retried), by kind', ['kind']),
      retried: metrics.counter('cachelab_delayed_deletes_retried_total', 'Delete jobs claimed again after a failed attempt or a replica that died holding them, by kind', ['kind']),
      pending: metrics.gauge('cachelab_delayed_deletes_pending', 'Delete jobs not done yet (shared by all replicas: aggregate with max, not sum)', []),
      lateness: metrics.histogram('cachelab_delayed_delete_lateness_seconds', 'How long after its due time a delete job ran (first attempts)', [], [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
    }
    for (const kind of Object.keys(KIND_CODE) as DeleteJobKind[]) {
      for (const c of [this.m.scheduled, this.m.done, this.m.failed, this.m.retried]) c.inc({ kind }, 0)
    }
  }

  /**
   * The first delete of a double delete and the job for the second, in one MULTI: both happen or
   * neither (then this throws and the caller must not write MySQL). Returns the job's member.
   */
  async deleteNowAndSchedule(id: string, dueAt: number): Promise<string> {
    const member = newMember('second_delete', id)
    try {
      const res = await this.redis.multi().del(this.keys.order(id)).zadd(this.jobsKey, dueAt, member).exec()
      const failed = res?.find(([err]) => err)
      if (!res || failed) throw failed?.[0] ?? new Error('MULTI was discarded')
    } catch (err) {
      this.metrics.redisErrors.inc({ operation: 'del' })
      throw err
    }
    this.metrics.cacheInvalidations.inc({ reason: 'update' })
    this.m.scheduled.inc({ kind: 'second_delete' })
    this.m.pending.inc()
    this.wake(dueAt)
    return member
  }

  /** Moves a job's due time (the delay counts from the commit). Best effort: on failure the earlier due time stands. */
  async reschedule(member: string, dueAt: number): Promise<void> {
    try {
      await this.redis.zadd(this.jobsKey, 'XX', dueAt, member)
      this.wake(dueAt)
    } catch (err) {
      this.warn(err, 'a delete job could not be moved to its exact due time; it runs at the earlier bound')
    }
  }

  /** Drops a job that has nothing to do (the order did not exist). Best effort: running it is harmless. */
  async cancel(member: string): Promise<void> {
    try {
      const [[, removed] = []] = (await this.redis.multi().zrem(this.jobsKey, member).hdel(this.attemptsKey, member).exec()) ?? []
      if (removed === 1) this.m.pending.dec()
    } catch {
      // It stays and runs: one more delete of an entry that should not be there anyway.
    }
  }

  /**
   * A delete that failed after MySQL committed becomes a job due now. Never throws: while Redis is
   * unreachable the job is held in memory and handed to Redis on a later pass.
   */
  async retryDelete(id: string): Promise<void> {
    const member = newMember('retry', id)
    const now = Date.now()
    this.m.scheduled.inc({ kind: 'retry' })
    this.m.pending.inc()
    try {
      await this.redis.zadd(this.jobsKey, now, member)
    } catch (err) {
      this.held.set(member, now)
      this.warn(err, 'a cache delete failed and Redis cannot take its retry job yet; holding it in memory')
    }
    this.wake(now)
  }

  /** Starts this replica's processor (the app owns it: it runs whatever consistency mode is active). */
  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.pollTimer = setInterval(() => void this.runDue(), this.pollMs)
    this.pollTimer.unref()
    void this.runDue()
  }

  /** Stops the processor and waits for a running pass. Jobs in Redis stay for the other replicas. */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.pollTimer)
    clearTimeout(this.wakeTimer)
    this.wakeAt = Infinity
    await this.running
    if (this.held.size > 0) {
      const ids = [...this.held.keys()].map((m) => parseMember(m).id)
      this.log.error({ ids }, 'stopping with cache delete jobs Redis never took (it was unreachable); if the process ends, these entries may stay stale until their TTL')
    }
  }

  /** One pass: hand held jobs to Redis, then claim and run every due job. Single-flight. */
  runDue(): Promise<void> {
    if (this.running) {
      this.rerun = true
      return this.running
    }
    this.running = (async () => {
      try {
        do {
          this.rerun = false
          await this.pass()
        } while (this.rerun && !this.stopped)
      } finally {
        this.running = undefined
      }
    })()
    return this.running
  }

  private async pass(): Promise<void> {
    try {
      await this.handOverHeld()
      let jobs: DeleteJob[]
      do {
        jobs = await this.claimDue()
        await Promise.all(jobs.map((j) => this.complete(j)))
      } while (jobs.length === this.batchSize && !this.stopped)
    } catch (err) {
      this.warn(err, 'delete jobs could not be claimed; they stay pending and are retried')
    }
  }

  /** Claims the due jobs (leased to this caller). Public so tests can fail a replica between claim and delete. */
  async claimDue(now = Date.now()): Promise<DeleteJob[]> {
    const reply = await this.claimScript([this.jobsKey, this.attemptsKey], [now, this.batchSize, this.leaseMs, this.maxLeaseMs])
    const jobs: DeleteJob[] = []
    // [member, score, attempt] per job, then the set size and the next due score.
    const count = (reply.length - 2) / 3
    for (let j = 0; j < count; j++) {
      const member = String(reply[3 * j])
      const job = { member, ...parseMember(member), dueAt: Number(reply[3 * j + 1]), attempt: Number(reply[3 * j + 2]) }
      if (job.attempt > 1) this.m.retried.inc({ kind: job.kind })
      jobs.push(job)
    }
    this.m.pending.set(Number(reply[reply.length - 2]) + this.held.size)
    const nextDue = reply[reply.length - 1]
    if (nextDue !== '') this.wake(Number(nextDue))
    return jobs
  }

  /** Runs one claimed job: the delete and the job's removal, atomically. False when Redis failed (it is retried). */
  async complete(job: DeleteJob): Promise<boolean> {
    let removed: number
    try {
      removed = await this.completeScript([this.jobsKey, this.attemptsKey, this.keys.order(job.id)], [job.member])
    } catch (err) {
      this.m.failed.inc({ kind: job.kind })
      this.metrics.redisErrors.inc({ operation: 'del' })
      this.warn(err, 'a delete job failed; it stays pending and is retried when its lease lapses')
      return false
    }
    if (removed === 1) {
      this.m.done.inc({ kind: job.kind })
      this.m.pending.dec()
      this.metrics.cacheInvalidations.inc({ reason: job.kind })
      if (job.attempt === 1) this.m.lateness.observe(Math.max(0, Date.now() - job.dueAt) / 1000)
    }
    return true
  }

  async status(): Promise<DelayedDeletesStatus> {
    const now = Date.now()
    const res = await this.redis.pipeline().zcard(this.jobsKey).zcount(this.jobsKey, '-inf', String(now)).zrange(this.jobsKey, '0', '0', 'WITHSCORES').exec()
    const failed = res?.find(([err]) => err)
    if (!res || failed) throw failed?.[0] ?? new Error('pipeline was discarded')
    const [[, pending], [, due], [, first]] = res as [[null, number], [null, number], [null, string[]]]
    return { pending: pending + this.held.size, due, nextDueInMs: first.length === 2 ? Number(first[1]) - now : null, heldInMemory: this.held.size }
  }

  private async handOverHeld(): Promise<void> {
    for (const [member, dueAt] of this.held) {
      await this.redis.zadd(this.jobsKey, dueAt, member)
      this.held.delete(member)
    }
  }

  /** Runs a pass at `at` (the next due job), unless one is already planned earlier. */
  private wake(at: number): void {
    if (this.stopped || at >= this.wakeAt) return
    clearTimeout(this.wakeTimer)
    this.wakeAt = at
    this.wakeTimer = setTimeout(
      () => {
        this.wakeAt = Infinity
        void this.runDue()
      },
      Math.max(0, at - Date.now()),
    )
    this.wakeTimer.unref()
  }

  private warn(err: unknown, msg: string): void {
    // Redis outages make every pass fail: one line per 5 s is enough to see it.
    if (Date.now() - this.lastWarnAt < 5000) return
    this.lastWarnAt = Date.now()
    this.log.warn({ err: (err as Error)?.message }, msg)
  }
}

function newMember(kind: DeleteJobKind, id: string): string {
  return `${KIND_CODE[kind]}|${id}|${randomBytes(6).toString('base64url')}`
}

function parseMember(member: string): { id: string; kind: DeleteJobKind } {
  const [code, id] = member.split('|')
  return { id: id!, kind: CODE_KIND[code!] ?? 'retry' }
}

// One job queue per app, shared by every consistency mode instance (modes are re-created on every
// switch; the jobs and the processor must outlive them). Keyed by the app's strategy context, so
// StrategyContext needs no new field; the consistency plugin starts and stops the processor.
const perApp = new WeakMap<StrategyContext, DelayedDeletes>()

export function delayedDeletesFor(ctx: StrategyContext): DelayedDeletes {
  let jobs = perApp.get(ctx)
  if (!jobs) {
    jobs = new DelayedDeletes(ctx.redis, ctx.keys, ctx.metrics, ctx.log)
    perApp.set(ctx, jobs)
  }
  return jobs
}
