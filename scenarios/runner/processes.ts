import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { LabError } from './errors.js'
import type { ProcessControl, ProcessSignal } from './types.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const GUARD = fileURLToPath(new URL('./exit-with-parent.mjs', import.meta.url))
// Generous: on a busy 2-core machine a tsx child can take a minute to compile and connect.
const READY_TIMEOUT_MS = 120_000

/** A process group to start: the order service's replicas, or another process (a queue worker...). */
export interface ProcessGroupSpec {
  name: string
  /** File relative to the repository root, run with tsx. */
  entry: string
  replicas: number
  env: Record<string, string>
  /** Listens on PORT (a free one is given): waited for on /healthz, scraped on /metrics. */
  http: boolean
}

interface Replica {
  index: number
  port: number | undefined
  child: ChildProcess | undefined
  output: string[]
}

/**
 * Child processes of the runner, each running a real entry point through tsx (so the load
 * generator never shares an event loop with the service). Every child also loads
 * exit-with-parent.mjs: if the runner dies without cleaning up, its children exit too.
 */
export class ProcessManager implements ProcessControl {
  private readonly groups = new Map<string, { spec: ProcessGroupSpec; replicas: Replica[] }>()

  names(): string[] {
    return [...this.groups.keys()]
  }

  /** Starts every replica of a group and waits until each is ready. */
  async start(spec: ProcessGroupSpec): Promise<void> {
    if (this.groups.has(spec.name)) throw new Error(`process group ${spec.name} already started`)
    const replicas: Replica[] = []
    this.groups.set(spec.name, { spec, replicas })
    for (let i = 0; i < spec.replicas; i++) replicas.push({ index: i, port: spec.http ? await freePort() : undefined, child: undefined, output: [] })
    await Promise.all(replicas.map((r) => this.launch(spec, r)))
  }

  /** Base URLs of a group's replicas (http groups). */
  urls(name: string): string[] {
    const g = this.groups.get(name)
    return g ? g.replicas.filter((r) => r.port !== undefined).map((r) => `http://127.0.0.1:${r.port}`) : []
  }

  /** Every /metrics URL of every http group. */
  metricsUrls(): string[] {
    return [...this.groups.keys()].flatMap((n) => this.urls(n).map((u) => `${u}/metrics`))
  }

  running(name: string): boolean {
    return this.groups.get(name)?.replicas.some((r) => alive(r.child)) ?? false
  }

  async signal(name: string, signal: ProcessSignal): Promise<void> {
    const g = this.groups.get(name)
    if (!g) throw new LabError(`no process "${name}"; started: ${this.names().join(', ')}`)
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      for (const r of g.replicas) if (alive(r.child)) r.child!.kill(signal)
      return
    }
    if (signal === 'restart') {
      await Promise.all(g.replicas.map((r) => this.stopReplica(r, 'SIGTERM')))
      await Promise.all(g.replicas.map((r) => this.launch(g.spec, r)))
      return
    }
    await Promise.all(g.replicas.map((r) => this.stopReplica(r, signal)))
  }

  /** Stops everything: SIGTERM, then SIGKILL for whatever is still running after the grace period. */
  async stopAll(graceMs = 8000): Promise<void> {
    const all = [...this.groups.values()].flatMap((g) => g.replicas)
    await Promise.all(all.map((r) => this.stopReplica(r, 'SIGTERM', graceMs)))
  }

  private async stopReplica(r: Replica, signal: 'SIGKILL' | 'SIGTERM', graceMs = 8000): Promise<void> {
    const child = r.child
    if (!alive(child)) return
    const exited = once(child!, 'exit')
    child!.kill(signal)
    // A frozen (SIGSTOP) process handles SIGTERM only once it runs again.
    if (signal === 'SIGTERM') child!.kill('SIGCONT')
    const timer = setTimeout(() => child!.kill('SIGKILL'), graceMs)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }

  private async launch(spec: ProcessGroupSpec, r: Replica): Promise<void> {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...spec.env, REPLICA_NAME: `${spec.name}-${r.index}` }
    if (r.port !== undefined) env.PORT = String(r.port)
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', GUARD, spec.entry], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    r.child = child
    r.output = []
    const keep = (d: Buffer) => {
      r.output.push(...d.toString().split('\n').filter(Boolean))
      if (r.output.length > 40) r.output.splice(0, r.output.length - 40)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    child.on('error', (err) => r.output.push(String(err)))
    const label = `${spec.name}-${r.index}`
    const failed = () => new LabError(`${label} (${spec.entry}) exited with ${child.exitCode ?? child.signalCode} while starting: ${lastLines(r.output)}`)
    if (r.port === undefined) {
      await sleep(300)
      if (!alive(child)) throw failed()
      return
    }
    const deadline = Date.now() + READY_TIMEOUT_MS
    for (;;) {
      if (!alive(child)) throw failed()
      try {
        const res = await request(`http://127.0.0.1:${r.port}/healthz`, { headersTimeout: 1000, bodyTimeout: 1000 })
        await res.body.dump()
        if (res.statusCode === 200) return
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new LabError(`${label} did not answer /healthz within ${READY_TIMEOUT_MS / 1000} s: ${lastLines(r.output)}`)
      await sleep(100)
    }
  }
}

function alive(child: ChildProcess | undefined): boolean {
  return !!child && child.exitCode === null && child.signalCode === null
}

/** The last log lines of a child, condensed to one line for an error message. */
function lastLines(lines: string[]): string {
  const text = lines
    .slice(-5)
    .map((l) => {
      try {
        const j = JSON.parse(l) as { msg?: string; err?: { message?: string } }
        return [j.msg, j.err?.message].filter(Boolean).join(': ')
      } catch {
        return l
      }
    })
    .join(' | ')
  return text || '(no output)'
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}
