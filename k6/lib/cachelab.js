// @ts-check
// The k6 side of a cachelab scenario: options, setup(), the exec functions of its k6 scenarios,
// teardown() and handleSummary(), all from the scenario's definition (see plan.js for the plan).
// A script k6/<name>.js is only `cachelabScenario(name, ...)` and its exports.
//
// Settings (k6 run -e NAME=value, or the environment):
//   BASE_URL        the order service (default http://localhost:3000; compose: the load balancer)
//   ADMIN_TOKEN     its admin token (phases switch strategies and inject faults through the admin API)
//   QUICK=1         the definition's quick overrides (as `npm run scenario -- <name> --quick`)
//   PHASES=a,b      only these phases, in definition order
//   SEED=N          workload seed (default 1, as the runner's)
//   DURATION=S      every phase's measured part lasts S seconds (as the runner's --duration)
//   SETUP_SECONDS=S time given to each phase's set-up before its load starts (default 5)
//   REPLICAS=N      replicas behind BASE_URL (default 2): a strategy change is confirmed by 2N answers
//   TESTID=id       the `testid` tag of every sample (default <scenario>-<start time>)
//   SUMMARY_DIR=dir where handleSummary writes k6-<scenario>.json (default: the working directory)
// Never set K6_VUS, K6_DURATION or K6_ITERATIONS (or --vus/--duration/--iterations): k6 then
// replaces the scenarios below with its own; setup() refuses to run.

import { check, fail, sleep } from 'k6'
import { SharedArray } from 'k6/data'
import exec from 'k6/execution'
import http from 'k6/http'
import { Counter } from 'k6/metrics'
import { buildPlan, DEFAULT_SETUP_SECONDS, k6ScenarioName, k6Scenarios, k6Thresholds, requestSequence } from './plan.js'

const BASE_URL = (__ENV.BASE_URL || 'http://localhost:3000').replace(/\/+$/, '')
const ADMIN_TOKEN = __ENV.ADMIN_TOKEN || ''
const REPLICAS = positiveNumber('REPLICAS', 2)
const JSON_HEADERS = { 'content-type': 'application/json' }
/** How long every replica has to apply a strategy change (the runner waits as long). */
const REPLICA_WAIT_MS = 5000

// The runner counts an answer as an error when there is none or it is a 5xx; 404s of missing ids
// and 409s are answers. k6 marks the rest as expected_response="true" (http_req_failed = errors).
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }))

/** Reads answered with x-cachelab-degraded (avalanche protection served a last-known copy). */
const degradedAnswers = new Counter('cachelab_degraded_answers')
/** Set-up steps that failed (a threshold aborts the run on the first). */
const setupFailures = new Counter('cachelab_setup_failures')

/** @param {string} name @param {number} fallback */
function positiveNumber(name, fallback) {
  const raw = __ENV[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!(n > 0)) throw new Error(`${name}=${raw} is not a positive number`)
  return n
}

/** @param {string} what @param {() => string} read */
function readJson(what, read) {
  let text
  try {
    text = read()
  } catch (err) {
    throw new Error(`${what} cannot be read (${err}): run k6 from the repository's k6/ folder layout (k6/ and scenarios/ side by side; compose mounts them at /k6 and /scenarios)`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${err}`)
  }
}

/** A short description of an answer for error messages: status and the service's message. @param {import('k6/http').RefinedResponse<any>} res */
function describe(res) {
  if (res.status === 0) return `no answer (${res.error || 'connection failed'})`
  let message = typeof res.body === 'string' ? res.body.slice(0, 300) : ''
  try {
    const parsed = JSON.parse(/** @type {string} */ (res.body))
    if (parsed && parsed.message) message = parsed.message
  } catch (_) {
    // not JSON: keep the text
  }
  return `${res.status} ${message}`
}

/** An admin API call (bearer token). @param {string} method @param {string} path @param {unknown=} body */
function admin(method, path, body) {
  return http.request(method, BASE_URL + path, body === undefined ? null : JSON.stringify(body), {
    headers: Object.assign({ authorization: `Bearer ${ADMIN_TOKEN}` }, body === undefined ? {} : JSON_HEADERS),
    tags: { name: `${method} ${path}` },
    timeout: '60s',
  })
}

/** @param {import('k6/http').RefinedResponse<any>} res */
const is2xx = (res) => res.status >= 200 && res.status < 300

/** The JSON body (parsed here, in JavaScript: it keeps the service's key order). @param {import('k6/http').RefinedResponse<any>} res */
function bodyJson(res) {
  return JSON.parse(/** @type {string} */ (res.body))
}

/** JSON with sorted keys: equal values give equal text, whatever the order they came in. @param {unknown} value @returns {string} */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const o = /** @type {Record<string, unknown>} */ (value)
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * Everything a k6/<name>.js script exports, for the scenario `name`.
 * @param {string} name the scenario (scenarios/definitions/<name>.json)
 * @param {() => string} readDefinition open('../scenarios/definitions/<name>.json'), called from the script (paths are relative to it)
 * @param {() => string} readBaselines open('../scenarios/baselines.json')
 */
export function cachelabScenario(name, readDefinition, readBaselines) {
  const def = readJson(`scenarios/definitions/${name}.json`, readDefinition)
  if (def.name !== name) throw new Error(`scenarios/definitions/${name}.json is named "${def.name}"`)
  const baselines = readJson('scenarios/baselines.json', readBaselines)
  const plan = buildPlan(def, {
    quick: __ENV.QUICK === '1' || __ENV.QUICK === 'true',
    seed: __ENV.SEED ? Number(__ENV.SEED) : 1,
    phases: __ENV.PHASES ? __ENV.PHASES.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    durationSeconds: __ENV.DURATION ? positiveNumber('DURATION', 0) : undefined,
    setupSeconds: positiveNumber('SETUP_SECONDS', DEFAULT_SETUP_SECONDS),
  })
  const scenarios = k6Scenarios(plan)
  const { thresholds, mapped, notInK6 } = k6Thresholds(plan, baselines)
  // Per-phase figures for the summary: k6 keeps a sub-metric only when a threshold names it, so
  // these always-true conditions (true without samples too: an empty count is 0) report each phase.
  for (const p of plan.phases) {
    const sel = `phase:${p.name},stage:measured`
    for (const [metric, always] of [
      [`http_reqs{${sel}}`, 'count>=0'],
      [`http_reqs{${sel},expected_response:false}`, 'count>=0'],
      [`http_req_duration{${sel}}`, 'max>=0'],
      [`cachelab_degraded_answers{${sel}}`, 'count>=0'],
    ]) {
      if (!thresholds[metric]) thresholds[metric] = [always]
    }
  }

  // Every VU reads the same request sequences, drawn once (the runner's, for this seed).
  /** @type {Record<string, any[]>} */
  const sequences = {}
  for (const key of Object.keys(plan.sequences)) {
    const s = plan.sequences[key]
    sequences[key] = new SharedArray(`cachelab ${name} seed ${plan.seed} ${key}`, () => requestSequence(s.mix, { seed: plan.seed, seededOrders: plan.seededOrders }, s.length))
  }

  /** @type {import('k6/options').Options} */
  const options = {
    scenarios: /** @type {any} */ (scenarios),
    thresholds: /** @type {any} */ (thresholds),
    tags: { testid: __ENV.TESTID || `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}` },
    // No `url` tag: every order id would be a series in Prometheus. `name` carries the route.
    systemTags: ['proto', 'status', 'method', 'name', 'group', 'check', 'error', 'error_code', 'scenario', 'expected_response'],
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)'],
    setupTimeout: '60s',
    teardownTimeout: '60s',
  }

  const phaseOf = () => plan.phases[Number(__ENV.CACHELAB_PHASE)]

  /** Fails fast when the service, its token, its catalogue or its data do not fit the scenario. */
  function setup() {
    const running = Object.keys(exec.test.options.scenarios || {})
    const missing = Object.keys(scenarios).filter((s) => running.indexOf(s) < 0)
    if (missing.length > 0) fail(`k6 is not running this script's scenarios (${missing.length} missing, e.g. ${missing[0]}): K6_VUS, K6_DURATION, K6_ITERATIONS or --vus/--duration/--iterations replace them; unset them`)
    const health = http.get(`${BASE_URL}/healthz`, { tags: { name: 'GET /healthz' }, timeout: '5s' })
    if (health.status !== 200) fail(`the order service does not answer at BASE_URL=${BASE_URL} (GET /healthz: ${describe(health)}): start the lab (docker compose up -d) or pass -e BASE_URL=<url>`)
    if (!ADMIN_TOKEN) fail('ADMIN_TOKEN is not set: the phases switch strategies through the admin API; pass -e ADMIN_TOKEN=<the service token>')
    const strategies = admin('GET', '/admin/strategies')
    if (strategies.status === 401) fail(`ADMIN_TOKEN is not the service's admin token (GET /admin/strategies: ${describe(strategies)})`)
    if (!is2xx(strategies)) fail(`GET /admin/strategies: ${describe(strategies)}`)
    /** @type {{ family: string, modes: { name: string }[] }[]} */
    const catalogue = bodyJson(strategies).catalogue
    for (const p of plan.phases) {
      const phaseStrategies = p.strategies || {}
      for (const family of Object.keys(phaseStrategies)) {
        const entry = catalogue.find((c) => c.family === family)
        const mode = (phaseStrategies[family] || {}).mode
        if (!entry) fail(`phase ${p.name}: this service has no strategy family "${family}" (it has ${catalogue.map((c) => c.family).join(', ')}): is it older than the scenario?`)
        else if (mode && !entry.modes.some((m) => m.name === mode)) fail(`phase ${p.name}: this service has no ${family} mode "${mode}" (it has ${entry.modes.map((m) => m.name).join(', ')}): is it older than the scenario?`)
      }
    }
    const chaos = admin('GET', '/admin/chaos')
    if (!is2xx(chaos)) fail(`GET /admin/chaos: ${describe(chaos)}`)
    const known = /** @type {{ name: string }[]} */ (bodyJson(chaos).catalogue).map((c) => c.name)
    for (const p of plan.phases) {
      for (const ev of p.events) {
        const body = ev.call && ev.call.path.indexOf('/admin/chaos') === 0 ? /** @type {any} */ (ev.call.body) : undefined
        const chaosName = body && (body.fault || body.action)
        if (chaosName && known.indexOf(chaosName) < 0) fail(`phase ${p.name}: event "${ev.what}" needs chaos "${chaosName}", which this service does not have (it has ${known.join(', ')})`)
      }
    }
    // The definition reads orders 1..seed.orders: the deployment must hold them (compose: SEED_COUNT).
    const last = http.get(`${BASE_URL}/orders/${plan.seededOrders}`, { tags: { name: 'GET /orders/:id' }, timeout: '10s' })
    if (last.status !== 200) fail(`the scenario reads orders 1..${plan.seededOrders}, but GET /orders/${plan.seededOrders} answered ${describe(last)}: seed at least that many (compose: SEED_COUNT, then docker compose run --rm seed)`)
    if ((def.deployment && def.deployment.processes || []).some((/** @type {{entry: string}} */ p) => p.entry === 'services/order-worker/src/main.ts')) {
      const queue = admin('GET', '/admin/queue')
      const consumers = is2xx(queue) ? /** @type {unknown[]} */ (bodyJson(queue).consumers) : []
      if (!consumers || consumers.length === 0) console.warn('the scenario runs an order worker, and none has joined the write queue yet (GET /admin/queue shows no consumer): start it (compose: the order-worker service)')
    }
    const env = def.deployment && def.deployment.env
    if (env) console.warn(`the runner starts the service with ${Object.keys(env).map((k) => `${k}=${env[k]}`).join(' ')}; k6 drives the deployment as it is`)
    for (const p of plan.phases) {
      for (const ev of p.events) {
        if (ev.skipped) console.warn(`phase ${p.name} at ${ev.at} s: ${ev.what} is not run: ${ev.skipped}`)
        else if (ev.approximation) console.warn(`phase ${p.name} at ${ev.at} s: ${ev.what}: ${ev.approximation}`)
      }
    }
    const testid = (exec.test.options.tags || {}).testid
    console.log(`cachelab ${name}${plan.quick ? ' (quick)' : ''}: ${plan.phases.length} phases, ${Math.round(plan.totalSeconds)} s, against ${BASE_URL}, testid ${testid}`)
    return { testid, startedAt: new Date().toISOString() }
  }

  /** One step of a phase's set-up: a named check on an admin answer (failures abort the run). @param {string} step @param {import('k6/http').RefinedResponse<any>} res */
  function setupStep(step, res) {
    const ok = check(res, { [`set-up: ${step}`]: is2xx })
    if (!ok) {
      setupFailures.add(1)
      console.error(`phase ${phaseOf().name}: set-up step "${step}" failed: ${describe(res)}`)
    }
    return ok
  }

  /** Polls the strategies through BASE_URL until 2 × REPLICAS answers in a row show `expected`. @param {string} expected */
  function replicasApplied(expected) {
    const deadline = Date.now() + REPLICA_WAIT_MS
    let agreeing = 0
    while (agreeing < 2 * REPLICAS) {
      const res = admin('GET', '/admin/strategies')
      agreeing = is2xx(res) && canonical(bodyJson(res).strategies) === expected ? agreeing + 1 : 0
      if (agreeing >= 2 * REPLICAS) break
      if (Date.now() > deadline) return false
      sleep(0.05)
    }
    return true
  }

  /** A phase's set-up, as the runner does it: no faults, baseline strategies plus the phase's, every replica in step, a clean (and maybe warmed) cache. */
  function phaseSetup() {
    const p = phaseOf()
    const started = Date.now()
    let ok = setupStep('faults cleared', admin('DELETE', '/admin/chaos')) && setupStep('strategies reset to baselines', admin('DELETE', '/admin/strategies'))
    if (ok) {
      const res = p.strategies ? admin('PUT', '/admin/strategies', p.strategies) : admin('GET', '/admin/strategies')
      ok = setupStep("phase's strategies set", res)
      if (ok) {
        ok = check(null, { 'set-up: every replica applied them': () => replicasApplied(canonical(bodyJson(res).strategies)) })
        if (!ok) setupFailures.add(1)
        if (!ok) console.error(`phase ${p.name}: the replicas behind ${BASE_URL} did not all show the phase's strategies within ${REPLICA_WAIT_MS / 1000} s (REPLICAS=${REPLICAS})`)
      }
    }
    ok = ok && setupStep('cache flushed', admin('POST', '/admin/cache/flush'))
    if (ok && p.warm) setupStep('cache warmed', admin('POST', '/admin/cache/warm', p.warm))
    const took = (Date.now() - started) / 1000
    if (!check(took, { 'set-up: done within its slot (SETUP_SECONDS)': (t) => t <= plan.setupSeconds })) {
      console.error(`phase ${p.name}: set-up took ${took.toFixed(1)} s, longer than its ${plan.setupSeconds} s slot: the load started before it was done; raise SETUP_SECONDS`)
    }
    console.log(`phase ${p.name}: set up in ${took.toFixed(1)} s${p.description ? ` (${p.description})` : ''}`)
  }

  /** One request of the phase's sequence: iteration i of the warm-up or measured part sends request i. */
  function phaseLoad() {
    const p = phaseOf()
    const seq = sequences[p.sequenceKey]
    const offset = __ENV.CACHELAB_STAGE === 'measured' ? p.requests.warmup : 0
    const r = seq[(offset + exec.scenario.iterationInTest) % seq.length]
    const res = http.request(r.method, BASE_URL + r.path, r.body === undefined ? null : r.body, {
      headers: r.body === undefined ? {} : JSON_HEADERS,
      tags: { name: r.name, kind: r.kind, tag: r.tag },
      timeout: `${p.workload.requestTimeoutMs}ms`,
    })
    if (is2xx(res)) {
      const body = typeof res.body === 'string' ? res.body : ''
      check(res, { 'a 2xx answer is the order it is about': () => (r.id === undefined ? /"id":"\d+"/.test(body) : body.indexOf(`"id":"${r.id}"`) >= 0) })
      if (res.headers['X-Cachelab-Degraded'] !== undefined) degradedAnswers.add(1, { kind: r.kind, tag: r.tag })
    }
  }

  /** An event of the phase at its moment: a fault, an action, an admin call (or a stand-in for a process signal). */
  function phaseEvent() {
    const p = phaseOf()
    const ev = p.events[Number(__ENV.CACHELAB_EVENT)]
    if (!ev.call) return
    const res = admin(ev.call.method, ev.call.path, ev.call.body)
    if (check(res, { 'event: admin call accepted': is2xx })) console.log(`phase ${p.name} at ${ev.at} s: ${ev.what}${ev.approximation ? ` (stand-in: ${ev.call.body && /** @type {any} */ (ev.call.body).action})` : ''}: ${res.body}`)
    else console.error(`phase ${p.name} at ${ev.at} s: ${ev.what} failed: ${describe(res)}`)
  }

  /** The deployment is left as the runner leaves one: no faults, baseline strategies. */
  function teardown() {
    admin('DELETE', '/admin/chaos')
    admin('DELETE', '/admin/strategies')
  }

  /** A per-phase table on stdout and the JSON summary in SUMMARY_DIR. @param {any} data */
  function handleSummary(data) {
    const m = data.metrics || {}
    const values = (/** @type {string} */ metric) => (m[metric] && m[metric].values) || {}
    const num = (/** @type {unknown} */ v, /** @type {number} */ digits) => (typeof v === 'number' ? Math.round(v * 10 ** digits) / 10 ** digits : null)
    const phases = plan.phases.map((p) => {
      const sel = `phase:${p.name},stage:measured`
      const d = values(`http_req_duration{${sel}}`)
      return {
        name: p.name,
        description: p.description,
        strategies: p.strategies || {},
        measuredSeconds: p.timeline.measuredSeconds,
        plannedRequests: p.requests.measured || null,
        requests: num(values(`http_reqs{${sel}}`).count, 0) || 0,
        errors: num(values(`http_reqs{${sel},expected_response:false}`).count, 0) || 0,
        dropped: num(values(`dropped_iterations{scenario:${k6ScenarioName(p.index, p.name, 'measured')}}`).count, 0) || 0,
        latencyMs: { p50: num(d.med, 3), p90: num(d['p(90)'], 3), p99: num(d['p(99)'], 3), max: num(d.max, 3), mean: num(d.avg, 3) },
        degradedAnswers: num(values(`cachelab_degraded_answers{${sel}}`).count, 0) || 0,
        events: p.events.map((ev) => Object.assign({ at: ev.at, what: ev.what }, ev.approximation ? { approximation: ev.approximation } : {}, ev.skipped ? { skipped: ev.skipped } : {})),
      }
    })
    /** @type {{ metric: string, condition: string, ok: boolean, baseline?: { phase: string, figure: string } }[]} */
    const results = []
    for (const metric of Object.keys(thresholds)) {
      for (const t of thresholds[metric]) {
        const condition = typeof t === 'string' ? t : t.threshold
        const state = m[metric] && m[metric].thresholds && m[metric].thresholds[condition]
        const from = mapped.find((x) => x.metric === metric && x.conditions.indexOf(condition) >= 0)
        if (!from && /^(count>=0|max>=0)$/.test(condition)) continue // a reporting condition, see above
        results.push(Object.assign({ metric, condition, ok: state ? !!state.ok : true }, from ? { baseline: { phase: from.phase, figure: from.figure } } : {}))
      }
    }
    const failed = results.filter((r) => !r.ok)
    /** @type {{ name: string, passes: number, fails: number }[]} */
    const failedChecks = ((data.root_group && data.root_group.checks) || []).filter((/** @type {{ fails: number }} */ c) => c.fails > 0)
    const setupData = data.setup_data || {}
    const summary = {
      scenario: name,
      title: plan.title,
      testid: setupData.testid,
      startedAt: setupData.startedAt,
      baseUrl: BASE_URL,
      quick: plan.quick,
      seed: plan.seed,
      passed: failed.length === 0,
      phases,
      thresholds: results,
      failedChecks: failedChecks.map((c) => ({ name: c.name, passes: c.passes, fails: c.fails })),
      notCheckedByK6: notInK6,
    }
    const pad = (/** @type {unknown} */ v, /** @type {number} */ w) => String(v === null || v === undefined ? '–' : v).padStart(w)
    const lines = [
      '',
      `cachelab ${name}${plan.quick ? ' (quick)' : ''}, testid ${setupData.testid || '?'}, against ${BASE_URL}`,
      `${'phase'.padEnd(28)}${pad('requests', 10)}${pad('errors', 8)}${pad('dropped', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}`,
      ...phases.map((p) => `${p.name.padEnd(28)}${pad(p.requests, 10)}${pad(p.errors, 8)}${pad(p.dropped, 9)}${pad(p.latencyMs.p50, 9)}${pad(p.latencyMs.p99, 9)}${pad(p.latencyMs.max, 9)}`),
      `thresholds: ${results.length - failed.length} passed, ${failed.length} failed`,
      ...failed.map((r) => `  FAILED ${r.metric} ${r.condition}${r.baseline ? ` (baseline ${r.baseline.figure} of ${r.baseline.phase})` : ''}`),
      ...failedChecks.map((c) => `  check "${c.name}" failed ${c.fails} of ${c.passes + c.fails} times`),
    ]
    if (notInK6.length > 0) lines.push(`not checked by k6 (service-side figures: Grafana shows them, npm run lab:ci checks them): ${[...new Set(notInK6.map((x) => x.figure))].join(', ')}`)
    const skipped = phases.flatMap((p) => p.events.filter((e) => 'skipped' in e).map((e) => `${p.name} at ${e.at} s: ${e.what}`))
    if (skipped.length > 0) lines.push(`events k6 could not run: ${skipped.join('; ')}`)
    const file = `${(__ENV.SUMMARY_DIR || '.').replace(/\/+$/, '')}/k6-${name}.json`
    lines.push(`summary: ${file}`, '')
    return { stdout: lines.join('\n'), [file]: `${JSON.stringify(summary, null, 2)}\n` }
  }

  return { options, setup, teardown, handleSummary, phaseSetup, phaseLoad, phaseEvent }
}
