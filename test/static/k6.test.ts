import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { buildPlan, dueBy, executorFor, k6Scenarios, k6Thresholds, requestSequence, DROPPED_SHARE_LIMIT } from '../../k6/lib/plan.js'
import { createWorkload } from '../../scenarios/lib/workload.js'
import { SCENARIOS } from '../../scenarios/catalogue.js'
import { AdminClient } from '../../scenarios/runner/admin.js'
import { loadBaselines } from '../../scenarios/runner/baselines.js'
import { checkDefinition, definitionPath, loadDefinition, momentSeconds, resolvePhase } from '../../scenarios/runner/definition.js'
import { arrivalDurationSeconds } from '../../scenarios/runner/load.js'
import { selectPhases } from '../../scenarios/runner/run.js'
import type { Arrival, Definition, PhaseEvent } from '../../scenarios/runner/schemas.js'

// The k6 scripts run the runner's scenarios: for every registered scenario a k6/<name>.js exists,
// and for every k6/<name>.js whose definition exists the plan it builds (k6/lib/plan.js, plain
// JavaScript evaluated here in Node) has the runner's phases — names, order, strategies, warm-up,
// workload, events — laid out in time without overlaps, with executors that start the requests the
// runner would start and thresholds from scenarios/baselines.json.

const K6_DIR = 'k6'
const registered = SCENARIOS.map((s) => s.name)
const scripts = readdirSync(K6_DIR)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .sort()

// Scripts written ahead of their scenario, whose scenarios/definitions/<name>.json is being written
// on another branch. The checks below go by the scripts, not by this list: a script is checked in
// full as soon as its definition exists (so these two are covered the moment theirs is merged), and
// a script without a definition fails unless it is named here. Remove a name once its definition
// is on main; a name left here after that is harmless (its script is checked all the same).
const PENDING_DEFINITIONS: string[] = []
const withDefinition = scripts.filter((name) => existsSync(definitionPath(name)))
const baselines = loadBaselines(new URL('../../scenarios/baselines.json', import.meta.url).pathname)

/** The runner's view of a run: selected phases, each resolved. */
function runnerPhases(def: Definition, opts: { quick: boolean; phases?: string[]; durationSeconds?: number }) {
  return selectPhases(def, opts.phases).map((p) => resolvePhase(def, p, { quick: opts.quick, ...(opts.durationSeconds !== undefined ? { durationSeconds: opts.durationSeconds } : {}) }))
}

/** Arrivals a k6 arrival-rate executor starts (its stages integrated, as k6 schedules them). */
function k6Arrivals(executor: Record<string, any>): number {
  const unit = Number(String(executor.timeUnit).replace(/s$/, ''))
  const seconds = (d: string) => Number(d.replace(/ms$/, '')) / 1000
  if (executor.executor === 'constant-arrival-rate') return Math.floor((executor.rate / unit) * seconds(executor.duration))
  let rate = executor.startRate as number
  let total = 0
  for (const s of executor.stages as { duration: string; target: number }[]) {
    total += ((rate + s.target) / 2 / unit) * seconds(s.duration)
    rate = s.target
  }
  return Math.floor(total + 1e-9)
}

/** The admin call the runner makes for an event (scenarios/runner/run.ts scheduleEvents, through AdminClient). */
async function runnerEventCall(ev: PhaseEvent): Promise<{ method: string; path: string; body?: unknown } | 'process signal'> {
  let seen: { method: string; path: string; body?: unknown } | undefined
  const admin = new (class extends AdminClient {
    override async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
      seen = { method, path, ...(body !== undefined ? { body } : {}) }
      return { result: {} } as T
    }
  })('http://runner.invalid', 'token')
  if ('fault' in ev) await admin.fault(ev.fault, ev.params, ev.durationSeconds)
  else if ('clearFault' in ev) await admin.clearFault(ev.clearFault)
  else if ('action' in ev) await admin.action(ev.action, ev.params)
  else if ('admin' in ev) await admin.call(ev.admin.method, ev.admin.path, ev.admin.body)
  else return 'process signal'
  return seen!
}

describe('k6 scripts', () => {
  it.each(registered)('k6/%s.js exists for the registered scenario', (name) => {
    const file = `${K6_DIR}/${name}.js`
    expect(existsSync(file), `${file} is missing: every scenario in scenarios/catalogue.ts needs one (copy k6/hot-set.js and change the name)`).toBe(true)
  })

  for (const name of scripts) {
    // Reported as skipped (not passed) while a pending script's definition is not here yet.
    const pending = PENDING_DEFINITIONS.includes(name) && !withDefinition.includes(name)
    it.skipIf(pending)(`k6/${name}.js has its scenario definition (or is listed in PENDING_DEFINITIONS)`, () => {
      expect(existsSync(definitionPath(name)), `k6/${name}.js runs scenarios/definitions/${name}.json, which does not exist`).toBe(true)
    })
  }

  it.each(scripts)('k6/%s.js is a checked script that runs the scenario of its own name, from the definitions folder, importing only the lib', (name) => {
    const text = readFileSync(`${K6_DIR}/${name}.js`, 'utf8')
    expect(text.startsWith('// @ts-check\n')).toBe(true)
    expect(text).toContain(`cachelabScenario('${name}', () => open('../scenarios/definitions/${name}.json'), () => open('../scenarios/baselines.json'))`)
    // No remote modules (the lab runs offline) and no k6 module outside the lib.
    for (const m of text.matchAll(/from '([^']+)'/g)) expect(m[1]).toMatch(/^\.\/lib\//)
  })

  it.each(withDefinition)('k6/%s.js exports what k6 calls for its definition', (name) => {
    const file = `${K6_DIR}/${name}.js`
    const text = readFileSync(file, 'utf8')
    // What k6 calls by name: the lifecycle functions and every exec function of the plan's scenarios.
    const exports = [...text.matchAll(/^export const (\w+) = lab\.(\w+)$/gm)].map((m) => m[1])
    const plan = buildPlan(loadDefinition(name), { quick: false })
    const execs = [...new Set(Object.values(k6Scenarios(plan)).map((s) => s.exec))]
    for (const needed of ['options', 'setup', 'teardown', 'handleSummary', ...execs]) expect(exports, `${file} exports ${needed}`).toContain(needed)
  })

  it('imports no k6 module in the plan (so Node can evaluate it) and nothing remote anywhere', () => {
    const plan = readFileSync(`${K6_DIR}/lib/plan.js`, 'utf8')
    expect([...plan.matchAll(/from '([^']+)'/g)].map((m) => m[1])).toEqual(['../../scenarios/lib/workload.js'])
    for (const f of readdirSync(`${K6_DIR}/lib`).filter((x) => x.endsWith('.js'))) {
      for (const m of readFileSync(`${K6_DIR}/lib/${f}`, 'utf8').matchAll(/from '([^']+)'/g)) expect(m[1], `k6/lib/${f}`).toMatch(/^(k6(\/[\w/-]+)?|\.{1,2}\/.*)$/)
    }
  })

  it('are typed against the @types/k6 of the k6 image the stack runs', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string>; scripts: Record<string, string> }
    const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { 'x-images': Record<string, string> }
    const image = /^grafana\/k6:(\d+\.\d+)\./.exec(compose['x-images'].k6!)?.[1]
    expect(pkg.devDependencies['@types/k6']).toMatch(new RegExp(`^${image!.replace('.', '\\.')}\\.`))
    expect(pkg.scripts.typecheck).toContain('tsc -p k6/tsconfig.json')
  })

  it('type-check with tsc against @types/k6 (k6/tsconfig.json, every k6/*.js and k6/lib/*.js in it)', () => {
    // What `npm run typecheck` runs for k6/, here too so that the suite proves it; --listFiles
    // shows that no script is left out of the program.
    let output: string
    let failed = false
    try {
      output = execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'k6/tsconfig.json', '--listFiles'], { encoding: 'utf8', stdio: 'pipe', timeout: 60_000 })
    } catch (err) {
      failed = true
      output = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`
    }
    expect(failed, output.split('\n').filter((l) => l.includes('error TS')).join('\n')).toBe(false)
    const checked = output.split('\n').map((l) => relative(process.cwd(), l.trim()))
    const js = [...scripts.map((n) => `${K6_DIR}/${n}.js`), ...readdirSync(`${K6_DIR}/lib`).filter((f) => f.endsWith('.js')).map((f) => `${K6_DIR}/lib/${f}`)]
    for (const file of js) expect(checked, file).toContain(file)
    expect(checked.some((f) => f.includes('@types/k6/'))).toBe(true)
  }, 60_000)
})

describe.each(withDefinition)('the k6 plan of %s', (name) => {
  const def = loadDefinition(name)

  for (const variant of [{ quick: false }, { quick: true }, { quick: true, durationSeconds: 3 }, { quick: false, phases: def.phases.slice(-1).map((p) => p.name) }]) {
    it(`runs the runner's phases, in order, with their strategies, warm-up, workload and events (${JSON.stringify(variant)})`, async () => {
      const plan = buildPlan(def, variant)
      const runner = runnerPhases(def, variant)
      expect(plan.phases.map((p) => p.name)).toEqual(runner.map((p) => p.name))
      for (const [i, p] of plan.phases.entries()) {
        const r = runner[i]!
        expect(p.strategies, p.name).toEqual(r.strategies)
        expect(p.warm, p.name).toEqual(r.warm)
        expect(p.workload, p.name).toEqual(r.workload)
        expect(p.timeline.measuredSeconds).toBe(arrivalDurationSeconds(r.workload.arrival, r.workload.durationSeconds))
        expect(p.events).toHaveLength(r.events?.length ?? 0)
        for (const [j, ev] of (r.events ?? []).entries()) {
          const k6 = p.events[j]!
          expect(k6.at).toBe(momentSeconds(ev.at, p.timeline.measuredSeconds))
          const call = await runnerEventCall(ev)
          if (call === 'process signal') expect(k6.skipped ?? k6.approximation, `${p.name}: ${k6.what} says how k6 handles it`).toBeTruthy()
          else expect(k6.call).toEqual(call)
        }
      }
    })
  }

  it('lays the phases out in time without overlaps: set-up, warm-up, measured part and events of each inside its own slot', () => {
    const plan = buildPlan(def, { quick: true })
    const scenarios = k6Scenarios(plan)
    const names = Object.keys(scenarios)
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_-]+$/)
    const seconds = (d: string) => Number(d.replace(/ms$/, '')) / 1000
    let previousEnd = 0
    for (const p of plan.phases) {
      const own = Object.values(scenarios).filter((s) => s.tags.phase === p.name)
      expect(p.timeline.setupAt).toBeGreaterThanOrEqual(previousEnd)
      for (const s of own) {
        expect(s.env.CACHELAB_PHASE).toBe(String(p.index))
        expect(seconds(s.startTime)).toBeGreaterThanOrEqual(p.timeline.setupAt)
        const length = s.duration ? seconds(s.duration as string) : s.stages ? (s.stages as { duration: string }[]).reduce((t, x) => t + seconds(x.duration), 0) : 0
        expect(seconds(s.startTime) + length + (s.gracefulStop ? seconds(s.gracefulStop as string) : 0)).toBeLessThanOrEqual(p.timeline.endAt + 0.001)
      }
      const measured = own.find((s) => s.tags.stage === 'measured')!
      expect(seconds(measured.startTime)).toBeCloseTo(p.timeline.measuredAt, 6)
      expect(own.filter((s) => s.tags.stage === 'setup')).toHaveLength(1)
      expect(own.filter((s) => s.tags.stage === 'warmup')).toHaveLength(p.workload.warmupSeconds > 0 ? 1 : 0)
      expect(own.filter((s) => s.tags.stage === 'event')).toHaveLength(p.events.filter((e) => e.call).length)
      previousEnd = p.timeline.endAt
    }
    expect(plan.totalSeconds).toBe(previousEnd)
  })

  it("replays the runner's request sequence (same seed, same seeded orders)", () => {
    const plan = buildPlan(def, { quick: true, seed: 7 })
    for (const p of plan.phases) {
      const seq = plan.sequences[p.sequenceKey]!
      const total = p.requests.warmup + p.requests.measured
      expect(seq.length).toBeGreaterThanOrEqual(total)
      const runner = createWorkload(p.workload, { seed: 7, seededOrders: def.seed.orders })
      const k6 = requestSequence(seq.mix, { seed: plan.seed, seededOrders: plan.seededOrders }, Math.min(total, 500))
      for (const r of k6) expect(r).toEqual({ ...runner.next(), name: r.name })
    }
  })

  it('maps every baseline figure to a k6 threshold or says the runner checks it', () => {
    const plan = buildPlan(def, { quick: true })
    const { mapped, notInK6, thresholds } = k6Thresholds(plan, baselines)
    for (const [phase, figures] of Object.entries(baselines.scenarios[name] ?? {})) {
      for (const [figure, e] of Object.entries(figures)) {
        const accounted = mapped.some((m) => m.phase === phase && m.figure === figure) || notInK6.some((n) => n.phase === phase && n.figure === figure)
        expect(accounted, `${phase} ${figure} ${JSON.stringify(e)}`).toBe(true)
      }
    }
    expect(thresholds.checks).toEqual(['rate==1'])
    expect(thresholds.cachelab_setup_failures).toEqual([{ threshold: 'count==0', abortOnFail: true }])
    // Sub-metric thresholds only where samples come (k6 fails an empty one): no per-stage checks.
    expect(Object.keys(thresholds).filter((k) => k.startsWith('checks{'))).toEqual([])
  })
})

describe('k6 plan mapping', () => {
  // A definition with one event of every kind and a staged (burst) arrival, checked by the runner's validation.
  const base = JSON.parse(readFileSync(definitionPath('hot-set'), 'utf8')) as Definition
  const def = checkDefinition(
    {
      ...base,
      deployment: { processes: [{ name: 'worker', entry: 'services/order-worker/src/main.ts', http: true }, { name: 'sidecar', entry: 'test/fixtures/idle-process.ts' }] },
      phases: [
        {
          ...base.phases[0],
          workload: { arrival: { model: 'open', ratePerSec: 50, stages: [{ seconds: 2, ratePerSec: 50 }, { seconds: 1.5, ratePerSec: 400.5 }, { seconds: 2, ratePerSec: 0 }], maxInFlight: 64 } },
          events: [
            { at: '50%', fault: 'db-latency', params: { ms: 20 }, durationSeconds: 2 },
            { at: 1, clearFault: 'db-latency' },
            { at: 2, action: 'mass-expiry', params: { inMs: 100 } },
            { at: '10%', admin: { method: 'POST', path: '/admin/cache/flush' } },
            { at: 3, process: 'worker', signal: 'SIGKILL' },
            { at: 3, process: 'worker', signal: 'SIGTERM' },
            { at: 4, process: 'order-service', signal: 'restart' },
          ],
        },
        { ...base.phases[1], workload: { arrival: { model: 'closed', concurrency: 12 } } },
      ],
    },
    'hot-set',
  )

  it('gives every event an admin call identical to the runner\'s, a stand-in, or the reason k6 cannot run it', async () => {
    const plan = buildPlan(def, { quick: false })
    const events = plan.phases[0]!.events
    for (const [i, ev] of def.phases[0]!.events!.entries()) {
      const call = await runnerEventCall(ev)
      if (call !== 'process signal') expect(events[i]!.call).toEqual(call)
    }
    const [kill, term, restart] = events.slice(4)
    expect(kill!.call).toEqual({ method: 'POST', path: '/admin/chaos/actions', body: { action: 'worker-kill' } })
    expect(kill!.approximation).toMatch(/worker-kill/)
    expect(term!.call).toBeNull()
    expect(term!.skipped).toMatch(/docker compose kill --signal=SIGTERM order-worker/)
    expect(restart!.call).toBeNull()
    expect(restart!.skipped).toMatch(/docker compose restart order-service/)
  })

  it("starts as many requests as the runner's schedule, with maxInFlight VUs at most (open), or the runner's users (closed)", () => {
    const plan = buildPlan(def, { quick: false })
    const scenarios = k6Scenarios(plan)
    const [open, closed] = plan.phases
    const measured = (i: number) => Object.values(scenarios).find((s) => s.env.CACHELAB_PHASE === String(i) && s.tags.stage === 'measured')!
    const burst = measured(0)
    expect(burst.executor).toBe('ramping-arrival-rate')
    expect(burst.maxVUs).toBe(64)
    expect(k6Arrivals(burst)).toBe(dueBy(open!.workload.arrival, open!.timeline.measuredSeconds))
    expect(k6Arrivals(burst)).toBe(open!.requests.measured)
    const warmup = Object.values(scenarios).find((s) => s.env.CACHELAB_PHASE === '0' && s.tags.stage === 'warmup')!
    expect(k6Arrivals(warmup)).toBe(open!.requests.warmup)
    expect(measured(1)).toMatchObject({ executor: 'constant-vus', vus: 12, duration: `${closed!.timeline.measuredSeconds * 1000}ms` })
    for (const rate of [500, 0.5, 33.3]) {
      const arrival: Arrival = { model: 'open', ratePerSec: rate }
      const e = executorFor(arrival, 20)
      expect(e.executor).toBe('constant-arrival-rate')
      expect(k6Arrivals(e)).toBe(dueBy(arrival, 20))
    }
  })

  it('turns the baselines k6 sees into per-phase thresholds and lists the others', () => {
    const plan = buildPlan(def, { quick: false })
    const [p0, p1] = plan.phases
    const { thresholds, notInK6 } = k6Thresholds(plan, {
      scenarios: {
        'hot-set': {
          [p0!.name]: { errors: { max: 3 }, 'latencyMs.p99': { max: 250 }, hitRatio: { min: 0.5 }, dbQueriesPer1k: { belowPhase: p1!.name } },
          [p1!.name]: { requests: { min: 100 }, throughputPerSec: { min: 10 }, 'latencyMs.p50': { max: 20 } },
        },
      },
    })
    const sel = (p: string) => `phase:${p},stage:measured`
    expect(thresholds[`http_reqs{${sel(p0!.name)},expected_response:false}`]).toEqual(['count<=3'])
    expect(thresholds[`http_req_duration{${sel(p0!.name)}}`]).toEqual(['p(99)<=250'])
    expect(thresholds[`http_reqs{${sel(p1!.name)}}`]).toEqual(['count>=100', `count>=${10 * p1!.timeline.measuredSeconds}`])
    expect(thresholds[`http_req_duration{${sel(p1!.name)}}`]).toEqual(['p(50)<=20'])
    // The runner's warning (over 5 % of the due requests dropped) is k6's limit for open phases.
    expect(thresholds['dropped_iterations{scenario:p01_fixed-ttl_short_measured}']).toEqual([`count<=${Math.floor(p0!.requests.measured * DROPPED_SHARE_LIMIT)}`])
    expect(thresholds['dropped_iterations{scenario:p02_fixed-ttl_long_measured}']).toBeUndefined()
    expect(notInK6.map((n) => `${n.phase} ${n.figure}`).sort()).toEqual([`${p0!.name} dbQueriesPer1k`, `${p0!.name} hitRatio`])
  })
})

describe("the k6 plan of a scenario that freezes the run's own Redis", () => {
  it('pauses the stack\'s Redis with redis-pause from the SIGSTOP until the SIGCONT (or the end of the phase)', () => {
    const def = loadDefinition('avalanche')
    const plan = buildPlan(def, { quick: true })
    const outage = plan.phases.find((p) => p.name === 'protected:outage')!
    const stop = outage.events.find((e) => e.what === 'SIGSTOP redis')!
    const cont = outage.events.find((e) => e.what === 'SIGCONT redis')!
    expect(stop.call).toEqual({ method: 'POST', path: '/admin/chaos/actions', body: { action: 'redis-pause', params: { ms: Math.round((cont.at - stop.at) * 1000), mode: 'all' } } })
    expect(stop.approximation).toMatch(/redis-pause/)
    expect(cont.call).toBeNull()
    expect(cont.approximation).toMatch(/ends by itself/)
    // Without a SIGCONT the pause lasts until the end of the phase.
    const events = def.phases.find((p) => p.name === 'protected:outage')!.events!.filter((e) => !('signal' in e && e.signal === 'SIGCONT'))
    const open = buildPlan({ ...def, phases: [{ ...def.phases.find((p) => p.name === 'protected:outage')!, events }] }, { quick: true }).phases[0]!
    const lone = open.events.find((e) => e.what === 'SIGSTOP redis')!
    expect((lone.call!.body as { params: { ms: number } }).params.ms).toBe(Math.round((open.timeline.measuredSeconds - lone.at) * 1000))
  })
})
