import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../test/helpers/free-port.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const SERVICE_ENTRY = join(ROOT, 'services/order-service/src/server.ts')
export const BARE_ENTRY = join(ROOT, 'bench/bare-server.ts')
export const APP_BARE_ENTRY = join(ROOT, 'bench/app-bare-server.ts')

// Children still running when the bench exits (an error, Ctrl-C) are killed with it.
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** On Ctrl-C or SIGTERM: run `cleanup` (bounded to 5 s), then exit, which kills the children. */
export function onInterrupt(cleanup: () => Promise<void>): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping, deleting the run's keys`)
      const timer = setTimeout(() => process.exit(130), 5000)
      cleanup().finally(() => {
        clearTimeout(timer)
        process.exit(130)
      })
    })
  }
}

/** Tracks a child so that it does not outlive the bench. */
export function track(child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

/** An HTTP server under test: a child process of the bench on a free port. */
export interface ServerProcess {
  name: string
  url: string
  pid: number
  /** Date.now() when the process was spawned (to place a load window in its CPU profile). */
  spawnedAt: number
  /** SIGTERM, then wait for the exit (a --cpu-prof child writes its profile on exit). */
  stop(): Promise<void>
}

export interface StartOptions {
  name: string
  entry: string
  env: Record<string, string>
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[]
  readyPath?: string
  timeoutMs?: number
}

/** Starts `node --import tsx <entry>` with PORT set to a free port; resolves once readyPath answers 200. */
export async function startServer(opts: StartOptions): Promise<ServerProcess> {
  const port = await freePort()
  const spawnedAt = Date.now()
  const child = track(
    spawn(process.execPath, [...(opts.nodeFlags ?? []), '--import', 'tsx', opts.entry], {
      env: { ...process.env, ...opts.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  let output = ''
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${opts.name} exited before it was ready:\n${output}`)
    try {
      const res = await fetch(url + (opts.readyPath ?? '/healthz'))
      if (res.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${opts.name} was not ready within ${opts.timeoutMs ?? 120_000} ms:\n${output}`)
    }
    await sleep(100)
  }
  return { name: opts.name, url, pid: child.pid!, spawnedAt, stop: () => stopChild(child) }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}
