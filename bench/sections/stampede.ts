import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import type { Fixture } from '../lib/fixture.js'
import { track } from '../lib/processes.js'
import type { Figure } from '../lib/report.js'
import { summarize } from '../lib/stats.js'

export interface StampedeSettings {
  /** Hot-key expiries measured per contender. */
  expiries: number
  /** Concurrent reads per process at each expiry. */
  burst: number
  /** Latency added to every MySQL select (the expensive query that makes a stampede hurt). */
  dbLatencyMs: number
  hotId: string
}

export interface StampedeReport {
  figures: Figure[]
  contenders: { name: string; loadsPerExpiry: number[]; wrongAnswers: number; failed: number }[]
}

const PROCESSES = 2
const WORKER_ENTRY = fileURLToPath(new URL('../stampede-worker.ts', import.meta.url))

class Worker {
  private constructor(private readonly child: ChildProcess) {}

  static async start(env: Record<string, string>): Promise<Worker> {
    const child = track(fork(WORKER_ENTRY, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    const [msg] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => [{ type: 'exited' }])])) as [{ type: string }]
    if (msg.type !== 'ready') throw new Error('stampede worker exited before it was ready')
    return new Worker(child)
  }

  async ask<T = Record<string, unknown>>(msg: Record<string, unknown>): Promise<T> {
    this.child.send(msg)
    const [reply] = (await once(this.child, 'message')) as [{ type: string; message?: string }]
    if (reply.type === 'error') throw new Error(`stampede worker: ${reply.message}`)
    return reply as T
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.send({ type: 'close' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}

/**
 * Section 4, DB loads per hot-key expiry: two processes per contender read one hot key at the
 * same instant right after it was deleted, `burst` reads each, while every MySQL select takes
 * dbLatencyMs longer. Ours runs every breakdown mode of the catalogue (mutex: one loader across
 * processes); bentocache's lock is per process, so each process may load.
 */
export async function runStampedeSection(fx: Fixture, s: StampedeSettings, log: (msg: string) => void): Promise<StampedeReport> {
  const report: StampedeReport = { figures: [], contenders: [] }
  const env = (kind: string, prefix: string) => ({ CONTENDER: kind, HOT_ID: s.hotId, BURST: String(s.burst), REDIS_URL: fx.redisUrl, MYSQL_URL: fx.mysqlUrl, KEY_PREFIX: prefix, BENTO_PREFIX: `${prefix}bento`, ADMIN_TOKEN: fx.adminToken })
  const started: Worker[] = []
  const startGroup = (kind: string, prefix: string) =>
    Promise.all(
      Array.from({ length: PROCESSES }, async () => {
        const w = await Worker.start(env(kind, prefix))
        started.push(w)
        return w
      }),
    )
  try {
    const [ours, bento] = await Promise.all([startGroup('ours', `${fx.prefix}stampede-ours:`), startGroup('bentocache', `${fx.prefix}stampede-bento:`)])
    // Bentocache's side keeps our baseline modes: only our repository (and its latency) is used there.
    const runs = [...MODES.breakdown.map((m) => ({ name: `ours breakdown=${m.name}`, id: `ours-${m.name}`, workers: ours, mode: m.name })), { name: 'bentocache', id: 'bentocache', workers: bento, mode: MODES.breakdown[0]!.name }]
    for (const run of runs) {
      await run.workers[0]!.ask({ type: 'setup', mode: run.mode, dbLatencyMs: s.dbLatencyMs })
      const deadline = Date.now() + 10_000
      for (;;) {
        const states = await Promise.all(run.workers.map((w) => w.ask<{ mode: string; faults: string[] }>({ type: 'state' })))
        if (states.every((st) => st.mode === run.mode && st.faults.includes('db-latency'))) break
        if (Date.now() > deadline) throw new Error(`${run.name}: the processes did not apply the mode and the latency within 10 s`)
        await new Promise((r) => setTimeout(r, 50))
      }
      const loads: number[] = []
      let wrong = 0
      let failed = 0
      // The first expiry only warms the key and the code paths.
      for (let e = -1; e < s.expiries; e++) {
        await run.workers[0]!.ask({ type: 'expire' })
        const at = Date.now() + 150
        const replies = await Promise.all(run.workers.map((w) => w.ask<{ loads: number; wrong: number; failed: number; error?: string }>({ type: 'burst', at })))
        if (e < 0) continue
        loads.push(replies.reduce((n, r) => n + r.loads, 0))
        wrong += replies.reduce((n, r) => n + r.wrong, 0)
        failed += replies.reduce((n, r) => n + r.failed, 0)
        const err = replies.find((r) => r.error)?.error
        if (err) log(`  ${run.name}: ${err}`)
      }
      log(`  ${run.name.padEnd(32)} DB loads per expiry ${loads.join(' ')} (${PROCESSES} processes × ${s.burst} concurrent reads)`)
      report.contenders.push({ name: run.name, loadsPerExpiry: loads, wrongAnswers: wrong, failed })
      report.figures.push({
        section: 'stampede',
        id: `stampede-${run.id}`,
        name: `${run.name}: DB loads per hot-key expiry`,
        unit: 'loads per expiry',
        summary: summarize(loads),
        ...(wrong + failed > 0 ? { note: `${wrong} wrong answers, ${failed} failed reads` } : {}),
      })
    }
  } finally {
    await Promise.all(started.map((w) => w.close()))
  }
  return report
}
