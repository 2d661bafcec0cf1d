import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Metrics } from '../../services/order-service/src/metrics.js'
import { loadWorkerConfig, type WorkerConfig } from '../../services/order-worker/src/config.js'
import { startWorker, type WorkerHandle, type WorkerOptions } from '../../services/order-worker/src/worker.js'
import { auth, type FastifyInstance, type Sandbox } from './app.js'
import { freePort } from './free-port.js'

const WORKER_MAIN = 'services/order-worker/src/main.ts'

/** Worker config in a sandbox: its database and prefix, silent, metrics on any free port. */
export function workerConfig(sandbox: Sandbox, overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return loadWorkerConfig(
    { REDIS_URL: sandbox.redisUrl, MYSQL_URL: sandbox.mysqlUrl, KEY_PREFIX: sandbox.keyPrefix, LOG_LEVEL: 'silent', WORKER_METRICS_PORT: 0, ...overrides },
    {},
  )
}

/** An in-process worker (the caller stops it). */
export function startTestWorker(sandbox: Sandbox, overrides: Partial<WorkerConfig> = {}, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  return startWorker(workerConfig(sandbox, overrides), { logger: false, ...opts })
}

/** Sum of a metric's samples whose labels include `labels` (0 when none). */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name)
  if (!metric) return 0
  const { values } = await metric.get()
  return values
    .filter((v) => (v as { metricName?: string }).metricName === undefined || (v as { metricName?: string }).metricName === name)
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0)
}

/** The value of one series in Prometheus text (0 when absent). */
export function textMetric(text: string, name: string, labels = ''): number {
  const series = labels ? `${name}{${labels}}` : name
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line ? Number(line.split(' ').pop()) : 0
}

/** Polls until `check` resolves true; throws naming `what` after `ms`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for: ${what}`)
    await sleep(everyMs)
  }
}

/** Switches the writes family of the sandbox (every replica and worker follows). */
export async function setWrites(app: FastifyInstance, mode: 'sync' | 'queue', params: Record<string, number> = {}): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { writes: { mode, ...(Object.keys(params).length ? { params } : {}) } } })
  if (res.statusCode !== 200) throw new Error(`PUT /admin/strategies: ${res.statusCode} ${res.body}`)
}

/** Posts `count` orders at once; returns the accepted ids and the other responses' status codes. */
export async function burst(app: FastifyInstance, count: number): Promise<{ accepted: string[]; refused: { status: number; code: string; retryAfter: string | undefined }[] }> {
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => app.inject({ method: 'POST', url: '/orders', payload: { userId: 1 + (i % 50), item: `burst item ${i}`, quantity: 1 + (i % 3), amountCents: 100 + i } })),
  )
  const accepted: string[] = []
  const refused: { status: number; code: string; retryAfter: string | undefined }[] = []
  for (const r of results) {
    if (r.statusCode === 202) accepted.push(r.json().id)
    else refused.push({ status: r.statusCode, code: r.json().code, retryAfter: r.headers['retry-after'] as string | undefined })
  }
  return { accepted, refused }
}

/** Rows per id in MySQL for these ids: lost = no row, duplicated = more than one. */
export async function rowsPerId(app: FastifyInstance, ids: string[]): Promise<{ lost: string[]; duplicated: string[] }> {
  const counts = new Map<string, number>()
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000)
    const [rows] = await app.mysql.query(`SELECT id, COUNT(*) AS n FROM orders WHERE id IN (${chunk.map(() => '?').join(',')}) GROUP BY id`, chunk)
    for (const r of rows as { id: string; n: number | string }[]) counts.set(String(r.id), Number(r.n))
  }
  return { lost: ids.filter((id) => !counts.has(id)), duplicated: ids.filter((id) => (counts.get(id) ?? 0) > 1) }
}

/** A worker as its own process (the real entry point), with its /metrics on a free port. */
export class WorkerProcess {
  output = ''
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (d) => (this.output += d))
    child.stderr?.on('data', (d) => (this.output += d))
  }

  static async spawn(sandbox: Sandbox, env: Record<string, string> = {}): Promise<WorkerProcess> {
    const port = await freePort()
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
      env: { ...process.env, REDIS_URL: sandbox.redisUrl, MYSQL_URL: sandbox.mysqlUrl, KEY_PREFIX: sandbox.keyPrefix, LOG_LEVEL: 'info', WORKER_METRICS_PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const w = new WorkerProcess(child, port)
    await waitFor(
      `worker process on port ${port} to answer /healthz`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker exited early (${child.exitCode ?? child.signalCode}): ${w.output}`)
        try {
          return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok
        } catch {
          return false
        }
      },
      45_000,
      100,
    )
    return w
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text()
  }

  async health(): Promise<{ consumer: string; state: string; held: number; inFlight: number }> {
    return (await fetch(`http://127.0.0.1:${this.port}/healthz`)).json() as never
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  /** Resolves with the exit code and signal. */
  async waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exited) return { code: this.child.exitCode, signal: this.child.signalCode }
    const [code, signal] = (await once(this.child, 'exit')) as [number | null, NodeJS.Signals | null]
    return { code, signal }
  }

  /** Kills the process (if still running) and waits for it. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) this.child.kill(signal)
    return this.waitExit()
  }
}
