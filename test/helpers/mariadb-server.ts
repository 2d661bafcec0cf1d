import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import mysql from 'mysql2/promise'
import { freePort } from './free-port.js'

const run = promisify(execFile)

// Small and quick: a lab's test server needs no big buffer pool, redo log or binary log, and the
// data lives in a temporary directory (fsync off: a SIGKILL of mariadbd is still a real crash to
// its clients, and InnoDB's recovery on restart still runs).
const SERVER_ARGS = [
  '--skip-name-resolve',
  '--skip-log-bin',
  '--innodb-buffer-pool-size=32M',
  '--innodb-log-file-size=8M',
  '--innodb-flush-log-at-trx-commit=2',
  '--innodb-doublewrite=0',
  '--performance-schema=0',
  '--max-connections=200',
]

/**
 * A mariadbd child of the test: its own datadir (mariadb-install-db in a temporary directory, root
 * without password), a free port, and stop (SIGKILL by default: a crash) / start again on the same
 * port and data. Tests that kill or block MySQL do it to this one, never to the shared server.
 */
export class MariadbServer {
  private child: ChildProcess | undefined
  private stderr = ''
  /** A test that times out in its hooks must not leave a mariadbd behind. */
  private readonly killOnExit = () => this.child?.kill('SIGKILL')

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<MariadbServer> {
    const dir = mkdtempSync(join(tmpdir(), 'cachelab-mariadb-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    const asRoot = process.getuid?.() === 0
    await run(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${join(dir, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        ...(asRoot ? [`--user=${userInfo().username}`] : []),
        // Passed on to the bootstrap mariadbd: a small redo log is most of the speed-up.
        '--innodb-log-file-size=8M',
        '--innodb-buffer-pool-size=32M',
      ],
      { timeout: 60_000 },
    )
    const server = new MariadbServer(await freePort(), dir)
    process.once('exit', server.killOnExit)
    await server.startProcess()
    return server
  }

  /** A mysql:// URL for `database` on this server. */
  url(database = 'test'): string {
    return `mysql://root@127.0.0.1:${this.port}/${database}`
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Starts (again) on the same port and datadir; resolves once it answers a query. */
  async startProcess(): Promise<void> {
    const asRoot = process.getuid?.() === 0
    const args = [
      '--no-defaults',
      `--datadir=${join(this.dir, 'data')}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(this.dir, 'mariadb.sock')}`,
      `--pid-file=${join(this.dir, 'mariadb.pid')}`,
      ...(asRoot ? [`--user=${userInfo().username}`] : []),
      ...SERVER_ARGS,
    ]
    this.stderr = ''
    const child = spawn('mariadbd', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000)
    })
    this.child = child
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`mariadbd exited with ${child.exitCode} on port ${this.port}: ${this.stderr}`)
      try {
        const conn = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 1000 })
        await conn.query('SELECT 1')
        await conn.end()
        return
      } catch {
        await sleep(100)
      }
    }
    throw new Error(`mariadbd did not answer on port ${this.port} within 30 s: ${this.stderr}`)
  }

  /** Stops the server (SIGKILL: a crash, no goodbye to clients) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
  }

  /** Stops the server and removes its data. */
  async destroy(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
