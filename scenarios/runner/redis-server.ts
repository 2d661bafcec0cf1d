import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { LabError } from './errors.js'
import { freePort } from './processes.js'

/** The name process events use for the run's own redis-server (deployment.redis "own"). */
export const OWN_REDIS = 'redis'

export type RedisSignal = 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT' | 'restart'

/**
 * A redis-server of the run's own (deployment.redis "own"), on a free port, persisting nothing. A
 * scenario that makes Redis go away (a phase event on process "redis") does it to this one, never
 * to the machine's shared server, which other engineers, the tests and CI use at the same time.
 * SIGSTOP/SIGCONT freeze and thaw it (clients keep their connections and wait: a hung Redis, data
 * and the service's strategy state intact); SIGKILL/SIGTERM stop it and restart starts it again on
 * the same port, empty (the service's strategy state, kept in Redis, is lost with it).
 */
export class OwnRedisServer {
  private child: ChildProcess | undefined
  private output: string[] = []
  private readonly onExit = () => this.child?.kill('SIGKILL')

  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedisServer> {
    const server = new OwnRedisServer(await freePort())
    // If the runner exits without cleaning up (an uncaught error), the server must not outlive it.
    process.once('exit', server.onExit)
    try {
      await server.launch()
    } catch (err) {
      await server.close()
      throw err
    }
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null
  }

  async signal(signal: RedisSignal): Promise<void> {
    if (signal === 'restart') {
      await this.stop('SIGTERM')
      await this.launch()
      return
    }
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      if (!this.running()) throw new LabError(`cannot send ${signal} to the run's redis-server: it is not running`)
      this.child!.kill(signal)
      return
    }
    await this.stop(signal)
  }

  /** Stops it for good (SIGKILL works on a frozen server too) and forgets the exit hook. */
  async close(): Promise<void> {
    process.removeListener('exit', this.onExit)
    await this.stop('SIGKILL')
  }

  private async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.child
    if (!child || !this.running()) return
    const exited = once(child, 'exit')
    child.kill(signal)
    // A frozen server handles SIGTERM only once it runs again.
    if (signal === 'SIGTERM') child.kill('SIGCONT')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }

  private async launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning']
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.output = []
    const keep = (d: Buffer) => this.output.push(...d.toString().split('\n').filter(Boolean).slice(-5))
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    let spawnError: Error | undefined
    child.on('error', (err) => (spawnError = err))
    const deadline = Date.now() + 10_000
    for (;;) {
      if (spawnError) throw new LabError(`cannot start redis-server (deployment.redis "own"): ${spawnError.message}; is redis-server installed and on PATH?`)
      if (!this.running()) throw new LabError(`redis-server exited with ${child.exitCode ?? child.signalCode} on port ${this.port}: ${this.output.slice(-3).join(' | ') || '(no output)'}`)
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
      probe.on('error', () => {})
      try {
        await probe.connect()
        await probe.ping()
        return
      } catch {
        if (Date.now() > deadline) throw new LabError(`redis-server did not answer on port ${this.port} within 10 s`)
        await sleep(50)
      } finally {
        probe.disconnect()
      }
    }
  }
}
