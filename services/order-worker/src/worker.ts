import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { Pool } from 'mysql2/promise'
import { pino, type Logger } from 'pino'
import { CacheKeys } from '../../order-service/src/cache/keys.js'
import { ChaosRegistry } from '../../order-service/src/chaos/registry.js'
import { ensureDatabase } from '../../order-service/src/db/database.js'
import { migrate } from '../../order-service/src/db/migrate.js'
import { OrderRepository, type NewOrder } from '../../order-service/src/db/order-repository.js'
import { createPool } from '../../order-service/src/db/pool.js'
import { Metrics } from '../../order-service/src/metrics.js'
import { OrderQueue, decodeOrder, pendingOrder, queueKeys, type QueueMessage } from '../../order-service/src/queue/order-queue.js'
import { registerQueueGauges } from '../../order-service/src/queue/queue-metrics.js'
import { TokenBucket } from '../../order-service/src/queue/token-bucket.js'
import { readKillSwitch } from '../../order-service/src/queue/worker-kill.js'
import { createRedis, createSubscriber, waitUntilReady } from '../../order-service/src/redis.js'
import { SharedState } from '../../order-service/src/shared-state.js'
import type { FamilyParams } from '../../order-service/src/strategies/families.js'
import { defaultState, validatePatch } from '../../order-service/src/strategies/registry.js'
import type { WorkerConfig } from './config.js'
import { startMetricsServer, type MetricsServer } from './metrics-server.js'

type WritesParams = FamilyParams['writes']

/** A message this worker holds: what it is, which delivery this is, and when to try it next. */
interface InHand {
  msg: QueueMessage
  /** Delivery number (1 = first); compared with queueMaxAttempts. */
  attempt: number
  dueAt: number
  /** At the next try: claim again as a new attempt (the message failed), or only renew ownership (MySQL failed). */
  next: 'attempt' | 'same'
  lastError?: string
}

export type WorkerState = 'starting' | 'running' | 'paused' | 'backing-off' | 'stopping' | 'stopped'

export interface WorkerStatus {
  consumer: string
  state: WorkerState
  /** Messages waiting in this worker for a retry. */
  held: number
  inFlight: number
  params: WritesParams
}

export interface WorkerOptions {
  /** A pino logger, or false for none (tests). Defaults to JSON logs at LOG_LEVEL. */
  logger?: Logger | false
  /** What the worker-kill chaos action does. Default: SIGKILL this process, with no goodbye. */
  onKill?: () => void
}

export interface WorkerHandle {
  readonly consumer: string
  readonly metrics: Metrics
  /** Port of /metrics and /healthz. */
  readonly metricsPort: number
  status(): WorkerStatus
  /** Stops taking messages, hands the ones it holds back to the group, closes everything. */
  stop(): Promise<void>
}

// MySQL failures that say nothing about the message: the worker backs off as a whole and retries
// the same messages without counting an attempt, so an outage never sends orders to the dead letters.
const SYSTEMIC_CODES = new Set([
  'CACHELAB_DB_UNAVAILABLE',
  'CACHELAB_DB_TIMEOUT',
  // Sent, no answer: the insert is idempotent (same id), so retrying it is safe.
  'CACHELAB_DB_WRITE_UNKNOWN',
  'ER_NO_SUCH_TABLE',
  'ER_BAD_DB_ERROR',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_QUERY_INTERRUPTED',
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
])

export function isSystemicFailure(err: unknown): boolean {
  return SYSTEMIC_CODES.has((err as { code?: string } | null)?.code ?? '')
}

/**
 * Starts an order worker: it drains the write queue into MySQL at the shared rate, acknowledges
 * each message only after its insert returned, and exposes /metrics. Usable in-process (tests)
 * or as its own process (main.ts).
 */
export async function startWorker(config: WorkerConfig, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  const consumer = config.WORKER_NAME ?? `${hostname()}:${process.pid}`
  const log = opts.logger === false ? pino({ level: 'silent' }) : (opts.logger ?? pino({ level: config.LOG_LEVEL, base: { worker: consumer } }))
  const metrics = new Metrics({ enabled: true })
  const redisOpts = { url: config.REDIS_URL, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS, name: 'cachelab-order-worker' }
  const redis = createRedis(redisOpts)
  const subscriber = createSubscriber(redisOpts)
  let lastRedisLog = 0
  const onRedisError = (err: Error) => {
    if (Date.now() - lastRedisLog > 5000) {
      lastRedisLog = Date.now()
      log.warn({ err: err.message }, 'redis connection error')
    }
  }
  redis.on('error', onRedisError)
  subscriber.on('error', onRedisError)
  if (!(await waitUntilReady(redis, config.REDIS_CONNECT_TIMEOUT_MS))) log.warn('redis is not reachable yet; the worker keeps trying')

  const pool = createPool({ url: config.MYSQL_URL, connectionLimit: config.MYSQL_POOL_SIZE, queueLimit: config.MYSQL_QUEUE_LIMIT, connectTimeoutMs: config.MYSQL_CONNECT_TIMEOUT_MS })
  if (config.MIGRATE_ON_START) {
    try {
      await ensureDatabase(config.MYSQL_URL)
      await migrate(pool)
    } catch (err) {
      // Inserts fail as "systemic" until MySQL is there: messages wait, none is dead-lettered.
      log.error({ err }, 'migrations could not run; is MySQL reachable?')
    }
  }

  const keys = new CacheKeys(config.KEY_PREFIX)
  const chaos = new ChaosRegistry(metrics)
  const repo = new OrderRepository(pool, metrics, chaos, config.MYSQL_QUERY_TIMEOUT_MS)
  const queue = new OrderQueue(redis, keys)
  registerQueueGauges(metrics, queue)

  const worker = new QueueWorker(config, consumer, log, metrics, redis, queue, repo, chaos, new TokenBucket(redis, queueKeys(keys).rate), opts.onKill ?? killSelf(log))

  // Strategy parameters (rate, attempts) and chaos come from the service's shared state in Redis.
  const strategyState = new SharedState({
    redis,
    subscriber,
    key: keys.strategies(),
    onChange: (fields) => worker.setParams(writesParams(fields, log)),
    onError: (err) => log.warn({ err: err.message }, 'strategy parameters could not be read; keeping the last known'),
  })
  const chaosState = new SharedState({
    redis,
    subscriber,
    key: keys.chaos(),
    onChange: (fields) => chaos.applyStored(fields),
    onError: (err) => log.warn({ err: err.message }, 'chaos state could not be read; keeping the last known'),
  })
  await strategyState.start()
  await chaos.attach(chaosState)

  let server: MetricsServer
  try {
    server = await startMetricsServer({ port: config.WORKER_METRICS_PORT, host: config.WORKER_METRICS_HOST, metrics, status: () => worker.status() })
  } catch (err) {
    strategyState.stop()
    chaos.close()
    await closeConnections(pool, redis, subscriber)
    throw err
  }

  await worker.start()
  log.info({ consumer, metricsPort: server.port }, 'order worker started')

  let stopping: Promise<void> | undefined
  return {
    consumer,
    metrics,
    metricsPort: server.port,
    status: () => worker.status(),
    stop() {
      stopping ??= (async () => {
        await worker.stop()
        strategyState.stop()
        chaos.close()
        await server.close()
        await closeConnections(pool, redis, subscriber)
        metrics.registry.clear()
        log.info({ consumer }, 'order worker stopped')
      })()
      return stopping
    },
  }
}

async function closeConnections(pool: Pool, redis: Redis, subscriber: Redis): Promise<void> {
  await pool.end().catch(() => {})
  redis.disconnect()
  subscriber.disconnect()
}

function killSelf(log: Logger): () => void {
  return () => {
    // Stderr is a pipe or a terminal: written synchronously before the process dies.
    process.stderr.write(`order worker ${process.pid}: worker-kill chaos action received, sending SIGKILL to myself\n`)
    log.flush?.()
    process.kill(process.pid, 'SIGKILL')
  }
}

/** The writes family's parameters as stored by the service (defaults for anything missing or invalid). */
function writesParams(fields: Record<string, string>, log: Logger): WritesParams {
  const defaults = defaultState().writes.params
  const raw = fields.writes
  if (raw === undefined) return defaults
  try {
    const stored = JSON.parse(raw) as { mode?: string; params?: Partial<WritesParams> }
    validatePatch({ writes: stored })
    return { ...defaults, ...stored.params }
  } catch (err) {
    log.warn({ err }, 'ignoring invalid stored writes parameters; using the defaults')
    return defaults
  }
}

/** The drain loop. One per worker process (or per in-process handle). */
class QueueWorker {
  private params: WritesParams = defaultState().writes.params
  private state: WorkerState = 'starting'
  private readonly held = new Map<string, InHand>()
  private readonly inFlight = new Set<string>()
  private stopping = false
  private loopDone: Promise<void> = Promise.resolve()
  private readonly wake = new AbortController()
  private timers: NodeJS.Timeout[] = []
  private claimCursor = '0-0'
  private nextClaimAt = 0
  private historyRead = false
  /** Consecutive systemic failures: the backoff of the whole worker. */
  private systemicFailures = 0
  private backingOffUntil = 0
  private killEpoch: number | undefined

  private readonly messages
  private readonly duplicates
  private readonly reclaimed
  private readonly writeDelay
  private readonly rateGauge
  private readonly rateLimitedSeconds

  constructor(
    private readonly config: WorkerConfig,
    private readonly consumer: string,
    private readonly log: Logger,
    metrics: Metrics,
    private readonly redis: Redis,
    private readonly queue: OrderQueue,
    private readonly repo: OrderRepository,
    private readonly chaos: ChaosRegistry,
    private readonly bucket: TokenBucket,
    private readonly onKill: () => void,
  ) {
    this.messages = metrics.counter('cachelab_queue_messages_total', 'Queue messages handled by the worker, by result: acked (written, acknowledged), retried (a failed write, tried again later), dead (moved to the dead-letter queue)', ['result'])
    for (const result of ['acked', 'retried', 'dead']) this.messages.inc({ result }, 0)
    this.duplicates = metrics.counter('cachelab_queue_duplicates_total', 'Acknowledged messages whose order was already in MySQL (a redelivery absorbed by the idempotent insert)', [])
    this.reclaimed = metrics.counter('cachelab_queue_reclaimed_total', 'Messages taken over from a consumer that left them unacknowledged (crashed or stuck)', [])
    this.writeDelay = metrics.histogram('cachelab_queue_write_delay_seconds', 'Time from acceptance (202) to the commit in MySQL', [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600])
    this.rateGauge = metrics.gauge('cachelab_worker_rate_limit_per_second', 'Configured MySQL writes per second for all workers together (queueRatePerSec)', [])
    this.rateLimitedSeconds = metrics.counter('cachelab_worker_rate_limited_seconds_total', 'Time the worker waited for the rate limit (it binds when this grows)', [])
    this.rateGauge.set(this.params.queueRatePerSec)
  }

  setParams(params: WritesParams): void {
    this.params = params
    this.rateGauge.set(params.queueRatePerSec)
  }

  status(): WorkerStatus {
    return { consumer: this.consumer, state: this.state, held: this.held.size, inFlight: this.inFlight.size, params: { ...this.params } }
  }

  async start(): Promise<void> {
    try {
      await this.queue.ensureGroup()
    } catch (err) {
      this.log.warn({ err }, 'could not create the consumer group yet; retrying in the loop')
    }
    try {
      this.killEpoch = (await readKillSwitch(this.redis, queueKeys(new CacheKeys(this.config.KEY_PREFIX)).kill)).epoch
    } catch {
      // Read on the first successful check instead.
    }
    const killKey = queueKeys(new CacheKeys(this.config.KEY_PREFIX)).kill
    this.every(250, () => this.checkKill(killKey))
    // Keep what this worker holds marked as its own, so no other worker takes it over meanwhile.
    this.every(Math.max(50, Math.floor(this.config.WORKER_CLAIM_IDLE_MS / 3)), () => this.heartbeat())
    this.state = 'running'
    this.loopDone = this.loop()
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.state = 'stopping'
    this.wake.abort()
    for (const t of this.timers) clearInterval(t)
    await this.loopDone
    // Hand every message still pending here back to the group: idle enough to be taken at once.
    try {
      const mine = await this.queue.pendingOf(this.consumer, 10_000)
      await this.queue.release(this.consumer, mine, this.config.WORKER_CLAIM_IDLE_MS)
      if (mine.length > 0) this.log.info({ released: mine.length }, 'handed unfinished messages back to the group')
    } catch (err) {
      this.log.warn({ err }, 'could not hand messages back; they are reclaimed after WORKER_CLAIM_IDLE_MS')
    }
    this.state = 'stopped'
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let running = false
    const t = setInterval(() => {
      if (running) return
      running = true
      fn().finally(() => (running = false))
    }, ms)
    t.unref()
    this.timers.push(t)
  }

  private async checkKill(key: string): Promise<void> {
    try {
      const { epoch, target } = await readKillSwitch(this.redis, key)
      if (this.killEpoch === undefined) {
        this.killEpoch = epoch
        return
      }
      if (epoch > this.killEpoch && (target === '*' || target === this.consumer)) {
        this.killEpoch = epoch
        this.log.fatal({ epoch }, 'worker-kill chaos action: crashing now')
        this.onKill()
      }
    } catch {
      // Redis unreachable: nothing to read.
    }
  }

  private async heartbeat(): Promise<void> {
    const ids = [...this.held.keys(), ...this.inFlight]
    if (ids.length === 0) return
    try {
      await this.queue.claim(this.consumer, ids, true)
    } catch {
      // Missing one heartbeat only risks a redelivery, which the idempotent insert absorbs.
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        const worked = await this.runOnce()
        if (!worked && !this.stopping) await this.pause(this.idleWaitMs())
      } catch (err) {
        // Redis down or slow: nothing can be read or acknowledged; try again shortly.
        this.log.warn({ err: (err as Error).message }, 'queue read or acknowledgement failed; retrying')
        this.systemicFailures++
        await this.pause(this.backoff(this.systemicFailures))
      }
    }
  }

  /** Sleeps, waking early on stop. */
  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.wake.signal }).catch(() => {})
  }

  private idleWaitMs(): number {
    let wait = this.config.WORKER_POLL_MS
    const now = Date.now()
    for (const h of this.held.values()) wait = Math.min(wait, Math.max(1, h.dueAt - now))
    return wait
  }

  private backoff(n: number): number {
    const base = Math.min(this.config.WORKER_RETRY_MAX_MS, this.config.WORKER_RETRY_BASE_MS * 2 ** Math.min(n - 1, 30))
    // ±20% so that workers retrying together spread out.
    return Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)))
  }

  /** One round: collect due retries, reclaimed and new messages, write them. False when idle. */
  private async runOnce(): Promise<boolean> {
    if (this.chaos.workerPaused()) {
      this.state = 'paused'
      return false
    }
    const now = Date.now()
    if (now < this.backingOffUntil) {
      this.state = 'backing-off'
      // Held messages are due at the end of the backoff; nothing new is read meanwhile.
      await this.pause(Math.min(this.backingOffUntil - now, this.config.WORKER_POLL_MS))
      return true
    }
    this.state = 'running'
    const batch: InHand[] = []
    const size = this.config.WORKER_BATCH_SIZE

    // 1. Retries that are due. A message that failed is claimed again (its delivery count goes
    // up); one held back by a MySQL outage only has its ownership renewed.
    const due = [...this.held.values()].filter((h) => h.dueAt <= now).slice(0, size)
    if (due.length > 0) {
      const again = due.filter((h) => h.next === 'attempt').map((h) => h.msg.entryId)
      const same = due.filter((h) => h.next === 'same').map((h) => h.msg.entryId)
      const claimed = new Set([...(await this.queue.claim(this.consumer, again, false)), ...(await this.queue.claim(this.consumer, same, true))])
      for (const h of due) {
        this.held.delete(h.msg.entryId)
        // Gone: another worker finished it (it took the message over while this one was stuck).
        if (!claimed.has(h.msg.entryId)) continue
        batch.push({ ...h, attempt: h.next === 'attempt' ? h.attempt + 1 : h.attempt })
      }
    }

    // 2. Messages another consumer left unacknowledged for WORKER_CLAIM_IDLE_MS (crashed).
    if (batch.length < size && now >= this.nextClaimAt) {
      this.nextClaimAt = now + Math.max(100, Math.floor(this.config.WORKER_CLAIM_IDLE_MS / 4))
      const { cursor, messages } = await this.queue.autoclaim(this.consumer, this.config.WORKER_CLAIM_IDLE_MS, this.claimCursor, size - batch.length)
      this.claimCursor = cursor
      const taken = messages.filter((m) => !this.held.has(m.entryId) && !batch.some((b) => b.msg.entryId === m.entryId))
      if (taken.length > 0) {
        const counts = await this.queue.deliveries(taken.map((m) => m.entryId))
        for (const m of taken) batch.push({ msg: m, attempt: counts.get(m.entryId) ?? 1, dueAt: now, next: 'attempt' })
        this.reclaimed.inc(taken.length)
        this.log.info({ reclaimed: taken.length }, 'took over messages a crashed or stuck worker left unacknowledged')
      }
    }

    // 3. New messages; at start, first this consumer's own unacknowledged history (same WORKER_NAME).
    if (batch.length < size) {
      const fromHistory = !this.historyRead
      const fresh = (await this.queue.read(this.consumer, size - batch.length, fromHistory ? '0' : '>')).filter((m) => !batch.some((b) => b.msg.entryId === m.entryId))
      this.historyRead = true
      const counts = fromHistory ? await this.queue.deliveries(fresh.map((m) => m.entryId)) : undefined
      for (const m of fresh) batch.push({ msg: m, attempt: counts?.get(m.entryId) ?? 1, dueAt: now, next: 'attempt' })
    }

    if (batch.length === 0) return false
    await this.process(batch)
    return true
  }

  private async process(batch: InHand[]): Promise<void> {
    const ready: { h: InHand; order: NewOrder }[] = []
    for (const h of batch) {
      if (h.attempt > this.params.queueMaxAttempts) {
        // Delivered that often without an acknowledgement: it crashes or stalls whoever takes it.
        await this.deadLetter(h, h.lastError ?? `delivered ${h.attempt - 1} times without being acknowledged (a worker crashed or stalled each time)`)
        continue
      }
      try {
        ready.push({ h, order: decodeOrder(h.msg) })
      } catch (err) {
        await this.failed(h, err as Error)
      }
    }

    // Inserts are pipelined: each starts as soon as it has a token and a free slot (at most
    // WORKER_CONCURRENCY in flight), so slow writes do not cap the rate at one batch per latency.
    const running = new Set<Promise<void>>()
    const written: { h: InHand; order: NewOrder; inserted: boolean }[] = []
    const ownFault: { h: InHand; err: Error }[] = []
    const systemic: InHand[] = []
    let next = 0
    // Acknowledge only what MySQL has committed. If this fails, the messages are redelivered later
    // and the idempotent insert finds their rows: nothing lost, nothing doubled.
    const settle = async () => {
      const done = written.splice(0)
      if (done.length > 0) {
        const acked = await this.queue.ack(done.map((w) => ({ entryId: w.h.msg.entryId, orderId: w.h.msg.orderId })))
        this.messages.inc({ result: 'acked' }, acked)
        const committedAt = Date.now()
        for (const w of done) {
          if (!w.inserted) this.duplicates.inc()
          else this.writeDelay.observe(Math.max(0, (committedAt - Date.parse(w.order.createdAt)) / 1000))
        }
        if (systemic.length === 0) this.systemicFailures = 0
      }
      for (const f of ownFault.splice(0)) await this.failed(f.h, f.err)
    }
    try {
      while (next < ready.length && systemic.length === 0) {
        if (running.size >= this.config.WORKER_CONCURRENCY) {
          await Promise.race(running)
          await settle()
          continue
        }
        const granted = await this.takeTokens(Math.min(this.config.WORKER_CONCURRENCY - running.size, ready.length - next))
        if (granted === 0) break // stopping: the rest stays pending and is handed back
        for (let k = 0; k < granted; k++) {
          const c = ready[next++]!
          const id = c.h.msg.entryId
          this.inFlight.add(id)
          const p: Promise<void> = this.repo
            .insert(c.order)
            .then(
              (inserted) => void written.push({ ...c, inserted }),
              (err: Error) => void (isSystemicFailure(err) ? systemic.push({ ...c.h, lastError: err.message }) : ownFault.push({ h: c.h, err })),
            )
            .finally(() => {
              this.inFlight.delete(id)
              running.delete(p)
            })
          running.add(p)
        }
        await settle()
      }
    } finally {
      await Promise.allSettled(running)
    }
    await settle()

    if (systemic.length > 0) {
      // MySQL itself is failing: hold these and the rest of the batch, back off as a whole.
      this.systemicFailures++
      const delay = this.backoff(this.systemicFailures)
      this.backingOffUntil = Date.now() + delay
      this.messages.inc({ result: 'retried' }, systemic.length)
      for (const h of [...systemic, ...ready.slice(next).map((r) => r.h)]) this.held.set(h.msg.entryId, { ...h, dueAt: this.backingOffUntil, next: 'same' })
      this.log.warn({ err: systemic[0]!.lastError, held: this.held.size, backoffMs: delay }, 'MySQL is failing; holding messages and backing off')
    }
  }

  /** Waits for up to `want` tokens of the shared rate limit; 0 only when stopping. */
  private async takeTokens(want: number): Promise<number> {
    const started = performance.now()
    try {
      for (;;) {
        if (this.stopping) return 0
        const { granted, waitMs } = await this.bucket.tryTake(this.params.queueRatePerSec, want)
        if (granted > 0) return granted
        await this.pause(Math.max(1, waitMs))
      }
    } finally {
      this.rateLimitedSeconds.inc((performance.now() - started) / 1000)
    }
  }

  /** A failed attempt that is the message's own fault (bad data, malformed): retry, or dead-letter. */
  private async failed(h: InHand, err: Error): Promise<void> {
    if (h.attempt >= this.params.queueMaxAttempts) {
      await this.deadLetter(h, err.message)
      return
    }
    this.messages.inc({ result: 'retried' })
    this.held.set(h.msg.entryId, { ...h, lastError: err.message, dueAt: Date.now() + this.backoff(h.attempt), next: 'attempt' })
    this.log.debug({ entry: h.msg.entryId, attempt: h.attempt, err: err.message }, 'write failed; retrying later')
  }

  private async deadLetter(h: InHand, error: string): Promise<void> {
    let pending = null
    try {
      pending = pendingOrder(decodeOrder(h.msg), 'dead-lettered')
    } catch {
      // Malformed: no pending state to show.
    }
    const moved = await this.queue.deadLetter(h.msg, error, h.attempt, pending)
    if (moved) {
      this.messages.inc({ result: 'dead' })
      this.log.warn({ entry: h.msg.entryId, order: h.msg.orderId, attempts: h.attempt, err: error }, 'message moved to the dead-letter queue')
    }
  }
}
