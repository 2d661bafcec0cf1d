import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort } from './free-port.js'

/**
 * A redis-server child of the test, on a free port, persisting nothing (unless `keepData`): tests
 * that stop, pause or kill Redis do it to this one, never to the machine's shared server.
 */
export class RedisServer {
  private child: ChildProcess | undefined
  /** With keepData: where the snapshot taken before a stop is written and reloaded from. */
  private readonly dataDir: string | undefined

  private constructor(
    readonly port: number,
    keepData: boolean,
    private readonly extraArgs: string[] = [],
  ) {
    if (keepData) {
      const dir = mkdtempSync(join(tmpdir(), 'cachelab-redis-'))
      this.dataDir = dir
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    }
  }

  /**
   * keepData: the data survives stop + startProcess (a snapshot is saved before the kill), as on a
   * Redis with persistence — e.g. the service's strategy state, which lives in Redis.
   * args: more redis-server arguments (e.g. `--enable-debug-command local` for DEBUG DIGEST).
   */
  static async start(opts: { keepData?: boolean; args?: string[] } = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), opts.keepData ?? false, opts.args)
    await server.startProcess()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts (again) on the same port. */
  async startProcess(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning']
    if (this.dataDir) args.push('--dir', this.dataDir, '--dbfilename', 'dump.rdb')
    args.push(...this.extraArgs)
    const child = spawn('redis-server', args, { stdio: 'ignore' })
    this.child = child
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} on port ${this.port}`)
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
      probe.on('error', () => {})
      try {
        await probe.connect()
        await probe.ping()
        probe.disconnect()
        return
      } catch {
        probe.disconnect()
        await sleep(50)
      }
    }
    throw new Error(`redis-server did not answer on port ${this.port} within 10 s`)
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    if (this.dataDir) {
      const client = new Redis(this.url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => {})
      try {
        await client.save()
      } finally {
        client.disconnect()
      }
    }
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
  }
}
