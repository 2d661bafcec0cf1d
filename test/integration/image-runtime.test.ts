import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createConnection, type RowDataPacket } from 'mysql2/promise'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandbox, TEST_TOKEN, type Sandbox } from '../helpers/app.js'
import { freePort } from '../helpers/free-port.js'

// The order service image rebuilt without Docker, from what services/order-service/Dockerfile
// says: the files its runtime stage copies, the production dependencies its deps stage installs
// (`npm ci --omit=dev`), its ENV, CMD and HEALTHCHECK, run as an unprivileged user in a read-only
// app directory; and docker-compose.yml's seed command before it. Proves that the image's contents
// are enough to seed and serve (no devDependency needed at run time, no write to its own files).

const DOCKERFILE = 'services/order-service/Dockerfile'
const NOBODY = 65534

interface Stage {
  name: string | undefined
  lines: string[]
}

function dockerfileStages(): Stage[] {
  const lines = readFileSync(DOCKERFILE, 'utf8')
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  const stages: Stage[] = []
  for (const line of lines) {
    const from = /^FROM \S+(?: AS (\S+))?$/i.exec(line)
    if (from) stages.push({ name: from[1], lines: [] })
    else stages.at(-1)?.lines.push(line)
  }
  return stages
}

/** `KEY=value KEY2=value2` of ENV instructions. */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of stage.lines.filter((l) => l.startsWith('ENV '))) {
    for (const pair of line.slice(4).trim().split(/\s+/)) {
      const [k, v] = pair.split('=')
      env[k!] = v!
    }
  }
  return env
}

/** The JSON (exec) form of CMD / HEALTHCHECK ... CMD. */
function execForm(line: string | undefined, what: string): string[] {
  const json = line && /CMD (\[.*\])$/.exec(line)?.[1]
  if (!json) throw new Error(`${DOCKERFILE}: no exec-form ${what}`)
  return JSON.parse(json) as string[]
}

/** Compose's `${VAR:-default}` interpolation. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+):-([^}]*)\}/g, (_, name: string, def: string) => env[name] ?? def)
}

/** `COPY src... dest` from the build context (the repository root) into the app directory (WORKDIR). */
function copy(line: string): void {
  const parts = line.split(/\s+/).slice(1).filter((p) => !p.startsWith('--'))
  const dest = parts.at(-1)!
  for (const src of parts.slice(0, -1)) cpSync(src, dest.endsWith('/') ? join(dir, dest, basename(src)) : join(dir, dest), { recursive: true })
}

const stages = dockerfileStages()
const deps = stages.find((s) => s.name === 'deps')
const runtime = stages.at(-1)!
const asRoot = process.getuid?.() === 0

let sandbox: Sandbox
let dir: string
let home: string
const userOptions = asRoot ? { uid: NOBODY, gid: NOBODY } : {}

beforeAll(async () => {
  sandbox = await createSandbox()
  dir = mkdtempSync(join(tmpdir(), 'cachelab-image-'))
  home = mkdtempSync(join(tmpdir(), 'cachelab-image-home-'))
  chmodSync(dir, 0o755)
  if (asRoot) chownSync(home, NOBODY, NOBODY)

  // deps stage: its COPY sources, then its one RUN (npm ci --omit=dev), without the cache cleanup
  // that only shrinks the image layer (here it would empty the machine's npm cache).
  expect(deps, `${DOCKERFILE}: a stage named deps`).toBeDefined()
  for (const line of deps!.lines.filter((l) => l.startsWith('COPY '))) copy(line)
  const runs = deps!.lines.filter((l) => l.startsWith('RUN '))
  expect(runs).toHaveLength(1)
  expect(runs[0]).toMatch(/^RUN npm ci --omit=dev\b/)
  execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, stdio: 'pipe', timeout: 240_000, env: { ...process.env, npm_config_update_notifier: 'false' } })

  // runtime stage: its COPY sources (node_modules comes from deps, already in place).
  for (const line of runtime.lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) copy(line)
  // Read-only for the service user, as in the image (files owned by root, USER node).
  execFileSync('chmod', ['-R', 'a-w', dir])
}, 300_000)

afterAll(async () => {
  if (dir) {
    execFileSync('chmod', ['-R', 'u+w', dir])
    rmSync(dir, { recursive: true, force: true })
  }
  if (home) rmSync(home, { recursive: true, force: true })
  await sandbox?.drop()
})

describe(`the order service image's runtime stage, without Docker (${asRoot ? `as uid ${NOBODY}` : 'as this user'}, read-only app directory)`, () => {
  const serviceEnv = (port: number) => ({
    PATH: process.env.PATH!,
    HOME: home,
    npm_config_cache: join(home, '.npm'),
    npm_config_update_notifier: 'false',
    ...envOf(runtime),
    // The compose network's hosts (mysql, redis) are this machine's services in the sandbox.
    PORT: String(port),
    HOST: '127.0.0.1',
    MYSQL_URL: sandbox.mysqlUrl,
    REDIS_URL: sandbox.redisUrl,
    KEY_PREFIX: sandbox.keyPrefix,
    ADMIN_TOKEN: TEST_TOKEN,
    LOG_LEVEL: 'warn',
  })

  it("runs docker-compose.yml's seed command with production dependencies only", () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: { seed: { command: string[] } } }
    const [cmd, ...args] = compose.services.seed.command.map((c) => interpolate(c, { SEED_COUNT: '25' }))
    const out = execFileSync(cmd!, args, { cwd: dir, env: serviceEnv(0), encoding: 'utf8', stdio: 'pipe', timeout: 120_000, ...userOptions })
    expect(out).toMatch(/seeded 25 orders/)
  }, 150_000)

  it('serves with its CMD, passes its HEALTHCHECK, and stops on SIGTERM with exit code 0', async () => {
    expect(runtime.lines.filter((l) => l.startsWith('USER ')).at(-1)).toMatch(/^USER (?!root$|0$)\w+$/)
    const port = await freePort()
    const env = serviceEnv(port)
    const [cmd, ...args] = execForm(runtime.lines.find((l) => l.startsWith('CMD ')), 'CMD')
    const child = spawn(cmd!, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], ...userOptions })
    const exited = once(child, 'exit')
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    try {
      const [hcCmd, ...hcArgs] = execForm(runtime.lines.find((l) => l.startsWith('HEALTHCHECK ')), 'HEALTHCHECK')
      // A cold start compiles the sources (tsx): generous on a busy machine.
      const deadline = Date.now() + 90_000
      for (;;) {
        if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}: ${output}`)
        try {
          execFileSync(hcCmd!, hcArgs, { cwd: dir, env, stdio: 'pipe', timeout: 5000, ...userOptions })
          break
        } catch {
          if (Date.now() > deadline) throw new Error(`HEALTHCHECK did not pass within 90 s: ${output}`)
          await sleep(200)
        }
      }
      const res = await fetch(`http://127.0.0.1:${port}/orders/25`)
      expect(res.status).toBe(200)
      expect(((await res.json()) as { id: string }).id).toBe('25')
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM')
    }
    const [code] = await exited
    expect(code, output).toBe(0)
  }, 150_000)

  it("runs docker-compose.yml's order-worker (its command, environment and healthcheck): it writes an order queued by the service to MySQL, and stops on SIGTERM with exit code 0", async () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
      services: Record<string, { image?: string; command?: string[]; environment?: Record<string, string>; healthcheck?: { test: string[] } }>
    }
    const worker = compose.services['order-worker']!
    expect(worker.image).toBe(compose.services['order-service']!.image)
    const metricsPort = await freePort()
    // Compose's environment, defaults interpolated; only the hosts and the port are this machine's.
    const composeEnv = Object.fromEntries(Object.entries(worker.environment!).map(([k, v]) => [k, interpolate(String(v), {})]))
    const workerEnv = {
      ...serviceEnv(0),
      ...composeEnv,
      MYSQL_URL: sandbox.mysqlUrl,
      REDIS_URL: sandbox.redisUrl,
      KEY_PREFIX: sandbox.keyPrefix,
      WORKER_METRICS_HOST: '127.0.0.1',
      WORKER_METRICS_PORT: String(metricsPort),
    }
    const composePort = composeEnv.WORKER_METRICS_PORT!
    const [hcType, hcCmd, ...hcArgs] = worker.healthcheck!.test.map((a) => a.replace(`127.0.0.1:${composePort}/`, `127.0.0.1:${metricsPort}/`))
    expect(hcType).toBe('CMD')

    const port = await freePort()
    const [cmd, ...args] = execForm(runtime.lines.find((l) => l.startsWith('CMD ')), 'CMD')
    const children = [
      { name: 'service', child: spawn(cmd!, args, { cwd: dir, env: serviceEnv(port), stdio: ['ignore', 'pipe', 'pipe'], ...userOptions }) },
      { name: 'worker', child: spawn(worker.command![0]!, worker.command!.slice(1), { cwd: dir, env: workerEnv, stdio: ['ignore', 'pipe', 'pipe'], ...userOptions }) },
    ].map((c) => {
      const out = { ...c, output: '', exited: once(c.child, 'exit') }
      c.child.stdout.on('data', (d) => (out.output += d))
      c.child.stderr.on('data', (d) => (out.output += d))
      return out
    })
    const [service, workerProc] = children as [(typeof children)[0], (typeof children)[0]]
    const until = async (what: string, check: () => Promise<boolean>) => {
      // A cold start compiles the sources (tsx): generous on a busy machine.
      const deadline = Date.now() + 90_000
      for (;;) {
        for (const c of children) if (c.child.exitCode !== null) throw new Error(`the ${c.name} exited with ${c.child.exitCode}: ${c.output}`)
        if (await check().catch(() => false)) return
        if (Date.now() > deadline) throw new Error(`${what} within 90 s; service: ${service.output}; worker: ${workerProc.output}`)
        await sleep(200)
      }
    }
    const admin = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }
    try {
      await until('the worker passed its compose healthcheck', async () => {
        execFileSync(hcCmd!, hcArgs, { cwd: dir, env: workerEnv, stdio: 'pipe', timeout: 5000, ...userOptions })
        return true
      })
      await until('the service answered /healthz', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok)
      const put = await fetch(`http://127.0.0.1:${port}/admin/strategies`, { method: 'PUT', headers: admin, body: JSON.stringify({ writes: { mode: 'queue' } }) })
      expect(put.status, await put.text()).toBe(200)
      const created = await fetch(`http://127.0.0.1:${port}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 7, item: 'queued in the image check', quantity: 1, amountCents: 500 }) })
      expect(created.status).toBe(202)
      const { id } = (await created.json()) as { id: string }
      const db = await createConnection(sandbox.mysqlUrl)
      try {
        await until(`order ${id} written to MySQL by the worker`, async () => {
          const [rows] = await db.query<RowDataPacket[]>('SELECT item FROM orders WHERE id = ?', [id])
          return rows[0]?.item === 'queued in the image check'
        })
      } finally {
        await db.end()
      }
    } finally {
      for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGTERM')
    }
    const [code] = await workerProc.exited
    expect(code, workerProc.output).toBe(0)
    await service.exited
  }, 150_000)
})
