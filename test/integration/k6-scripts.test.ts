import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { requestSequence } from '../../k6/lib/plan.js'
import { definitionPath } from '../../scenarios/runner/definition.js'
import type { Definition } from '../../scenarios/runner/schemas.js'
import { createSandbox, TEST_TOKEN, type Sandbox } from '../helpers/app.js'
import { freePort } from '../helpers/free-port.js'
import { k6Shim } from '../helpers/k6-shim.js'

// k6/lib/cachelab.js (what every k6/<name>.js runs) against a real order service, with k6's API
// replaced by test/helpers/k6-shim.ts (no k6 binary here): setup() refuses a wrong URL, token,
// catalogue or seed with its reason; a phase's set-up leaves the service in the phase's state; the
// load sends the runner's request sequence with the lab's tags; events reach the admin API (and a
// process signal is skipped, said why); teardown() restores baselines; handleSummary() reports.

vi.mock('k6', async () => ({ ...(await import('../helpers/k6-shim.js')).k6 }))
vi.mock('k6/http', async () => ({ default: (await import('../helpers/k6-shim.js')).http }))
vi.mock('k6/data', async () => ({ ...(await import('../helpers/k6-shim.js')).data }))
vi.mock('k6/execution', async () => ({ default: (await import('../helpers/k6-shim.js')).execution }))
vi.mock('k6/metrics', async () => ({ ...(await import('../helpers/k6-shim.js')).metrics }))

const SERVER = 'services/order-service/src/server.ts'
const SEEDED = 300

// hot-set, smaller, with a mix of every request kind and an event of each kind k6 handles differently.
const hotSet = JSON.parse(readFileSync(definitionPath('hot-set'), 'utf8')) as Definition
const definition: Definition = {
  ...hotSet,
  seed: { orders: SEEDED },
  workload: {
    ...hotSet.workload,
    mix: [
      { kind: 'read', weight: 3, keys: { distribution: 'zipf', exponent: 1.1 } },
      { kind: 'read', weight: 1, tag: 'attack', keys: { distribution: 'missing', variant: 'random' } },
      { kind: 'update', weight: 1, keys: { distribution: 'uniform', min: 1, max: 50 } },
      { kind: 'create', weight: 1 },
    ],
    arrival: { model: 'open', ratePerSec: 20 },
    warmupSeconds: 1,
    durationSeconds: 2,
  },
  phases: [
    {
      ...hotSet.phases[0]!,
      events: [
        { at: '50%', fault: 'db-latency', params: { ms: 5 }, durationSeconds: 30 },
        { at: 1, process: 'order-service', signal: 'SIGTERM' },
      ],
    },
    { ...hotSet.phases[1]!, warm: { from: 1, count: 20 } },
  ],
}
const baselines = { scenarios: { 'hot-set': { 'fixed-ttl:short': { errors: { max: 0 }, hitRatio: { min: 0.4 } } } } }

let sandbox: Sandbox
let server: ChildProcess
let baseUrl = ''
let output = ''

async function adminGet(path: string): Promise<any> {
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } })
  return res.json()
}

/** Loads cachelab.js afresh with these settings (it reads BASE_URL and ADMIN_TOKEN when loaded). */
async function loadLab(env: Record<string, string>, def: Definition = definition) {
  const shim = k6Shim()
  shim.env = { BASE_URL: baseUrl, ADMIN_TOKEN: TEST_TOKEN, REPLICAS: '1', SETUP_SECONDS: '30', SUMMARY_DIR: '/tmp/k6-check', ...env }
  vi.resetModules()
  const { cachelabScenario } = await import('../../k6/lib/cachelab.js')
  const lab = cachelabScenario('hot-set', () => JSON.stringify(def), () => JSON.stringify(baselines))
  shim.options = lab.options
  return lab
}

/** Runs an exec function as k6 runs it in one of the plan's scenarios (its env merged into __ENV). */
function inScenario<T>(env: Record<string, string>, fn: () => T): T {
  const shim = k6Shim()
  const saved = shim.env
  shim.env = { ...saved, ...env }
  try {
    return fn()
  } finally {
    shim.env = saved
  }
}

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(SEEDED)
  const port = await freePort()
  baseUrl = `http://127.0.0.1:${port}`
  server = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: String(port), MYSQL_URL: sandbox.mysqlUrl, REDIS_URL: sandbox.redisUrl, KEY_PREFIX: sandbox.keyPrefix, ADMIN_TOKEN: TEST_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  server.stdout!.on('data', (d) => (output += d))
  server.stderr!.on('data', (d) => (output += d))
  const deadline = Date.now() + 90_000
  while (!(await fetch(`${baseUrl}/healthz`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`server did not start: ${output}`)
    await sleep(100)
  }
}, 120_000)

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM')
    await new Promise((r) => server.once('exit', r))
  }
  await sandbox?.drop()
})

beforeEach(() => {
  const shim = k6Shim()
  shim.requests = []
  shim.checks = []
  shim.samples = []
  shim.iterationInTest = 0
})

describe('setup() fails fast, saying why', () => {
  it('when nothing answers at BASE_URL', async () => {
    const lab = await loadLab({ BASE_URL: `http://127.0.0.1:${await freePort()}` })
    expect(() => lab.setup()).toThrow(/the order service does not answer at BASE_URL=http:\/\/127\.0\.0\.1:\d+ \(GET \/healthz: no answer/)
  })

  it('when the admin token is missing or wrong', async () => {
    await expect(loadLab({ ADMIN_TOKEN: '' }).then((l) => l.setup())).rejects.toThrow(/ADMIN_TOKEN is not set/)
    const lab = await loadLab({ ADMIN_TOKEN: 'not-the-token-0123456789' })
    expect(() => lab.setup()).toThrow(/ADMIN_TOKEN is not the service's admin token \(GET \/admin\/strategies: 401/)
  })

  it('when the deployment holds fewer orders than the scenario reads', async () => {
    const lab = await loadLab({}, { ...definition, seed: { orders: SEEDED + 1000 } })
    expect(() => lab.setup()).toThrow(new RegExp(`reads orders 1\\.\\.${SEEDED + 1000}, but GET /orders/${SEEDED + 1000} answered 404`))
  })

  it("when k6's scenarios replaced the script's (K6_VUS, K6_DURATION...)", async () => {
    const lab = await loadLab({})
    k6Shim().options = { ...lab.options, scenarios: { default: { executor: 'constant-vus', vus: 1, duration: '10s' } } }
    expect(() => lab.setup()).toThrow(/K6_VUS, K6_DURATION, K6_ITERATIONS or --vus\/--duration\/--iterations replace them/)
  })

  it('and otherwise returns the run\'s testid', async () => {
    const lab = await loadLab({ TESTID: 'k6-scripts-check' })
    expect(lab.options.tags).toEqual({ testid: 'k6-scripts-check' })
    expect(lab.setup()).toMatchObject({ testid: 'k6-scripts-check' })
  })
})

describe('a run, phase by phase', () => {
  it("sets a phase up as the runner does: faults off, baselines plus the phase's strategies, flushed, warmed", async () => {
    const lab = await loadLab({})
    await fetch(`${baseUrl}/admin/chaos`, { method: 'POST', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ fault: 'race-window', params: { ms: 10 } }) })
    inScenario({ CACHELAB_PHASE: '1' }, () => lab.phaseSetup())
    expect(k6Shim().checks.filter((c) => !c.ok)).toEqual([])
    expect(k6Shim().checks.map((c) => c.name)).toEqual([
      'set-up: faults cleared',
      'set-up: strategies reset to baselines',
      "set-up: phase's strategies set",
      'set-up: every replica applied them',
      'set-up: cache flushed',
      'set-up: cache warmed',
      'set-up: done within its slot (SETUP_SECONDS)',
    ])
    expect((await adminGet('/admin/chaos')).active).toEqual([])
    expect((await adminGet('/admin/strategies')).strategies.avalanche).toEqual({ mode: 'fixed-ttl', params: expect.objectContaining(definition.phases[1]!.strategies!.avalanche!.params) })
    // Warmed: orders 1..20 are hits now.
    const before = await (await fetch(`${baseUrl}/metrics`)).text()
    const hits = (text: string) => Number(/cachelab_cache_lookups_total\{outcome="hit"\} (\d+)/.exec(text)?.[1] ?? 0)
    for (let id = 1; id <= 20; id++) await fetch(`${baseUrl}/orders/${id}`)
    expect(hits(await (await fetch(`${baseUrl}/metrics`)).text()) - hits(before)).toBe(20)
  })

  it("sends the runner's request sequence, continuing after the warm-up, tagged with phase data k6 reports", async () => {
    const lab = await loadLab({})
    inScenario({ CACHELAB_PHASE: '0' }, () => lab.phaseSetup())
    const n = 24
    for (let i = 0; i < n; i++) {
      k6Shim().iterationInTest = i
      inScenario({ CACHELAB_PHASE: '0', CACHELAB_STAGE: 'measured' }, () => lab.phaseLoad())
    }
    const sent = k6Shim().requests.filter((r) => r.tags.kind)
    const warmup = 20 // 1 s at 20/s: the measured part continues the sequence there, as the runner's does
    const expected = requestSequence(definition.workload.mix, { seed: 1, seededOrders: SEEDED }, warmup + n).slice(warmup)
    expect(sent.map((r) => ({ method: r.method, url: r.url, body: r.body, tags: r.tags }))).toEqual(
      expected.map((r) => ({ method: r.method, url: `${baseUrl}${r.path}`, body: r.body ?? null, tags: { name: r.name, kind: r.kind, tag: r.tag } })),
    )
    expect(new Set(sent.map((r) => r.tags.tag))).toEqual(new Set(['read', 'attack', 'update', 'create']))
    // Every answer is one the runner counts as an answer; every 2xx one is about the order asked for.
    expect(sent.every((r) => r.status > 0 && r.status < 500)).toBe(true)
    const bodyChecks = k6Shim().checks.filter((c) => c.name === 'a 2xx answer is the order it is about')
    expect(bodyChecks.length).toBe(sent.filter((r) => r.status < 300).length)
    expect(bodyChecks.every((c) => c.ok)).toBe(true)
    // No degraded answers (protection is off) and no failed set-up step.
    expect(k6Shim().samples).toEqual([])
  })

  it('runs the events it can at their moment, and skips a process signal', async () => {
    const lab = await loadLab({})
    const events = Object.entries(lab.options.scenarios).filter(([, s]) => s.exec === 'phaseEvent')
    expect(events).toHaveLength(1)
    const [, faultEvent] = events[0]!
    inScenario(faultEvent.env, () => lab.phaseEvent())
    expect(k6Shim().checks).toEqual([{ name: 'event: admin call accepted', ok: true }])
    expect((await adminGet('/admin/chaos')).active.map((f: { fault: string }) => f.fault)).toEqual(['db-latency'])
    const before = k6Shim().requests.length
    inScenario({ CACHELAB_PHASE: '0', CACHELAB_EVENT: '1' }, () => lab.phaseEvent())
    expect(k6Shim().requests.length).toBe(before)
  })

  it('leaves no fault and baseline strategies at the end, and reports per phase with the baselines', async () => {
    const lab = await loadLab({})
    await fetch(`${baseUrl}/admin/strategies`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ penetration: { mode: 'null-cache' } }) })
    lab.teardown()
    expect((await adminGet('/admin/chaos')).active).toEqual([])
    expect((await adminGet('/admin/strategies')).strategies.penetration.mode).toBe('none')

    const sel = 'phase:fixed-ttl:short,stage:measured'
    const summary = lab.handleSummary({
      setup_data: { testid: 'k6-scripts-check', startedAt: '2026-01-01T00:00:00.000Z' },
      metrics: {
        [`http_reqs{${sel}}`]: { values: { count: 40, rate: 1 }, thresholds: { 'count>=0': { ok: true } } },
        [`http_reqs{${sel},expected_response:false}`]: { values: { count: 2 }, thresholds: { 'count<=0': { ok: false }, 'count>=0': { ok: true } } },
        [`http_req_duration{${sel}}`]: { values: { med: 2.5, 'p(90)': 4, 'p(99)': 9.25, max: 12, avg: 3 } },
        checks: { values: { rate: 0.9 }, thresholds: { 'rate==1': { ok: false } } },
      },
      root_group: { checks: [{ name: 'a 2xx answer is the order it is about', passes: 9, fails: 1 }] },
    }) as Record<string, string>
    expect(summary.stdout).toMatch(/fixed-ttl:short\s+40\s+2\s+/)
    expect(summary.stdout).toMatch(/FAILED http_reqs\{phase:fixed-ttl:short,stage:measured,expected_response:false\} count<=0 \(baseline errors of fixed-ttl:short\)/)
    expect(summary.stdout).toMatch(/FAILED checks rate==1\n/)
    expect(summary.stdout).toMatch(/check "a 2xx answer is the order it is about" failed 1 of 10 times/)
    expect(summary.stdout).toMatch(/events k6 could not run: fixed-ttl:short at 1 s: SIGTERM order-service/)
    const json = JSON.parse(summary['/tmp/k6-check/k6-hot-set.json']!)
    expect(json).toMatchObject({ scenario: 'hot-set', testid: 'k6-scripts-check', passed: false })
    expect(json.phases.map((p: { name: string }) => p.name)).toEqual(['fixed-ttl:short', 'fixed-ttl:long'])
    expect(json.phases[0]).toMatchObject({ requests: 40, errors: 2, latencyMs: { p50: 2.5, p99: 9.25, max: 12 } })
    expect(json.notCheckedByK6).toEqual([expect.objectContaining({ phase: 'fixed-ttl:short', figure: 'hitRatio' })])
  })
})
