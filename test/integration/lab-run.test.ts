import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LabResult, Result } from '../../scenarios/runner/schemas.js'
import { build, createSandbox, TEST_TOKEN } from '../helpers/app.js'
import { runLabCli } from '../helpers/lab-cli.js'
import { RedisServer } from '../helpers/redis-server.js'
import { MYSQL_URL, REDIS_URL } from '../helpers/services.js'

// The runner end to end, as CI and a person use it: real service processes, real Redis and
// MariaDB, the published JSON Schema, the committed baselines, the HTML report in Chromium.
const CHROMIUM = '/usr/bin/chromium'
const run = promisify(execFile)
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cachelab-lab-test-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function validator(schemaFile: string) {
  const ajv = new Ajv({ allErrors: true, strict: false })
  addFormats.default(ajv)
  return ajv.compile(JSON.parse(readFileSync(new URL(`../../scenarios/${schemaFile}`, import.meta.url), 'utf8')))
}

async function chromium(args: string[]): Promise<string> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (listed in .ci/debian-packages)`)
  const profile = mkdtempSync(join(dir, 'chromium-'))
  const { stdout } = await run(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', `--user-data-dir=${profile}`, ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

describe('lab runner end to end', { timeout: 600_000 }, () => {
  it('npm run scenario -- hot-set --quick: valid JSON, the long TTL beats the short one, the report renders, nothing is left behind', async () => {
    const json = join(dir, 'hot-set.json')
    const report = join(dir, 'report')
    const res = await runLabCli(['scenario', 'hot-set', '--quick', '--json', json, '--report', report])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/fixed-ttl:short\s+\d+/)
    expect(res.stderr).toMatch(/\[hot-set 1\/2\] fixed-ttl:short (set-up|warm-up|load)/) // progress lines

    const result = JSON.parse(readFileSync(json, 'utf8')) as Result
    const validate = validator('result.schema.json')
    expect(validate(result), JSON.stringify(validate.errors)).toBe(true)
    const [short, long] = result.phases
    expect(short!.name).toBe('fixed-ttl:short')
    expect(long!.name).toBe('fixed-ttl:long')
    expect(short!.strategyParams.avalanche).toMatchObject({ ttlSeconds: 1 })
    expect(long!.strategyParams.avalanche).toMatchObject({ ttlSeconds: 300 })
    for (const p of result.phases) {
      expect(p.requests).toBeGreaterThan(0)
      expect(p.dbQueries).toBe(p.dbQueriesByOperation.select)
      expect(p.series.t.length).toBeGreaterThan(2)
    }
    expect(long!.hitRatio!).toBeGreaterThan(short!.hitRatio!)
    expect(long!.dbQueriesPer1k!).toBeLessThan(short!.dbQueriesPer1k!)
    expect(result.summary).toMatch(/^hot-set: against fixed-ttl:short, fixed-ttl:long raised the hit ratio from [\d.]+% to [\d.]+%, cut the DB queries per 1000 requests/)

    // The report: every chart painted data (pixels in the phases' colours inside its plot area).
    const html = join(report, 'index.html')
    expect(readFileSync(html, 'utf8')).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/)
    const dom = await chromium(['--virtual-time-budget=5000', '--dump-dom', `file://${html}`])
    const charts = [...dom.matchAll(/<canvas id="([^"]+)"[^>]*data-painted="(\d+)" data-data-pixels="(\d+)"/g)]
    expect(charts.length).toBeGreaterThanOrEqual(3 + 2) // three time series + the compared figures
    for (const [, id, , data] of charts) expect(Number(data), `chart ${id} drew no data`).toBeGreaterThan(0)
    expect(dom).toContain(`data-charts-painted="${charts.length}/${charts.length}"`)
    await chromium(['--window-size=1300,2200', `--screenshot=${join(dir, 'report.png')}`, `file://${html}`])
    expect(existsSync(join(dir, 'report.png'))).toBe(true)

    // Shut down cleanly: the run's database and keys are gone.
    const database = /into (cachelab_lab_[a-z0-9]+)/.exec(res.stderr)![1]!
    const conn = await mysql.createConnection({ uri: MYSQL_URL })
    const redis = new Redis(REDIS_URL)
    try {
      const [rows] = await conn.query('SHOW DATABASES LIKE ?', [database])
      expect(rows).toHaveLength(0)
      const tag = database.replace('cachelab_lab_', '')
      expect(await redis.keys(`cachelab-lab:${tag}:*`)).toEqual([])
    } finally {
      await conn.end()
      redis.disconnect()
    }
  })

  it('npm run lab:ci passes on the committed baselines', async () => {
    const json = join(dir, 'ci.json')
    const res = await runLabCli(['ci', '--only', 'hot-set', '--json', json])
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0)
    expect(res.stdout).toMatch(/^\d+ passed, 0 failed$/m)
    const validate = validator('lab-result.schema.json')
    const lab = JSON.parse(readFileSync(json, 'utf8')) as LabResult
    expect(validate(lab), JSON.stringify(validate.errors)).toBe(true)
  })

  it('npm run lab:ci fails with a readable diff when the cache is bypassed', async () => {
    // A private redis-server whose default user may not GET: every cache lookup fails and the
    // service answers from MySQL, as if the cache were not there.
    const server = await RedisServer.start()
    try {
      const admin = new Redis(server.url)
      await admin.call('ACL', 'SETUSER', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-get')
      admin.disconnect()
      const res = await runLabCli(['ci', '--only', 'hot-set', '--duration', '2'], { REDIS_URL: server.url })
      expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(1)
      expect(res.stdout).toMatch(/^\d+ passed, [1-9]\d* failed$/m)
      expect(res.stdout).toMatch(/^regressions:$/m)
      expect(res.stdout).toMatch(/^ {2}hot-set fixed-ttl:long hitRatio: measured 0% \(fixed-ttl:short: 0%\), expected ≥ [\d.]+%, > fixed-ttl:short$/m)
      expect(res.stdout).toMatch(/^ {2}hot-set fixed-ttl:long dbQueriesPer1k: measured 1000 \(fixed-ttl:short: 1000\), expected ≤ \d+, < fixed-ttl:short$/m)
    } finally {
      await server.stop()
    }
  })

  it('--base-url drives a running deployment through its admin API, and says when it lacks the orders the scenario needs', async () => {
    const sandbox = await createSandbox()
    await sandbox.seed(10)
    const app = await build(sandbox)
    try {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as { port: number }
      const args = ['scenario', 'hot-set', '--quick', '--duration', '1', '--phases', 'fixed-ttl:long', '--base-url', `http://127.0.0.1:${port}`, '--admin-token', TEST_TOKEN]
      const unseeded = await runLabCli(args)
      expect(unseeded.code).toBe(1)
      expect(unseeded.stderr).toMatch(/^error: the deployment at http:\/\/127\.0\.0\.1:\d+ has no order 5000; scenario hot-set needs orders 1\.\.5000: seed it \(npm run seed -- --count 5000\)$/m)

      await sandbox.seed(5000)
      const json = join(dir, 'remote.json')
      const res = await runLabCli([...args, '--json', json])
      expect(res.code, res.stderr).toBe(0)
      const result = JSON.parse(readFileSync(json, 'utf8')) as Result
      expect(result.target).toEqual({ mode: 'remote', baseUrl: `http://127.0.0.1:${port}`, replicas: 1 })
      expect(result.phases.map((p) => p.name)).toEqual(['fixed-ttl:long'])
      const [phase] = result.phases
      expect(phase!.requests).toBeGreaterThan(0)
      expect(phase!.dbQueries).toBeGreaterThan(0) // read from the deployment's /metrics
      expect(phase!.strategyParams.avalanche).toMatchObject({ ttlSeconds: 300 }) // as the deployment's admin API reported it
    } finally {
      await app.close()
      await sandbox.drop()
    }
  })
})
