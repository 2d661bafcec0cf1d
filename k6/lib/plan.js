// @ts-check
// What a k6 run of a cachelab scenario does, computed from the same definition the Node runner
// reads (scenarios/definitions/<name>.json): the phases in order, each one's workload resolved as
// the runner resolves it, a timeline (set-up, warm-up, measured part, events, drain, settle), the
// k6 scenarios that run it and the thresholds that mirror scenarios/baselines.json.
// Plain JavaScript without any k6 import: test/unit/k6-plan.test.ts evaluates it in Node and
// compares it with the runner's own resolution of every registered scenario.

import { createWorkload } from '../../scenarios/lib/workload.js'

/** Seconds given to each phase's set-up (faults off, strategies, flush, warm) before its load starts. */
export const DEFAULT_SETUP_SECONDS = 5
/** The runner's defaults (scenarios/runner/definition.ts resolvePhase and runner/load.ts). */
const WORKLOAD_DEFAULTS = { warmupSeconds: 0, settleSeconds: 0, sampleIntervalMs: 500, requestTimeoutMs: 10000 }
const DEFAULT_MAX_IN_FLIGHT = 512
/** A closed workload has no planned count of requests: its sequence is this long, then wraps. */
const CLOSED_SEQUENCE_LENGTH = 50000
/** The runner warns when more of a phase's due requests than this were dropped: k6 fails the threshold. */
export const DROPPED_SHARE_LIMIT = 0.05
/** The worker's entry point: the worker-kill chaos action can crash it through the admin API. */
export const WORKER_ENTRY = 'services/order-worker/src/main.ts'

/**
 * The workload a phase runs: the scenario's, its quick overrides, the phase's own (and their quick
 * ones), then a duration override. The same merge as the runner's resolvePhase.
 * @param {any} def @param {any} phase @param {{ quick: boolean, durationSeconds?: number }} opts
 */
export function resolveWorkload(def, phase, opts) {
  const merged = Object.assign({}, def.workload, opts.quick ? def.quick : {}, phase.workload, opts.quick ? phase.quick : {})
  if (opts.durationSeconds !== undefined) {
    const seconds = opts.durationSeconds
    merged.durationSeconds = seconds
    if (merged.arrival.model === 'open' && merged.arrival.stages) {
      const total = merged.arrival.stages.reduce((/** @type {number} */ s, /** @type {{seconds: number}} */ x) => s + x.seconds, 0)
      merged.arrival = Object.assign({}, merged.arrival, {
        stages: merged.arrival.stages.map((/** @type {{seconds: number}} */ s) => Object.assign({}, s, { seconds: (s.seconds * seconds) / total })),
      })
    }
    if (merged.warmupSeconds) merged.warmupSeconds = Math.min(merged.warmupSeconds, seconds)
  }
  return Object.assign({}, WORKLOAD_DEFAULTS, merged)
}

/** @param {any} arrival @param {number} durationSeconds */
export function arrivalDurationSeconds(arrival, durationSeconds) {
  return arrival.model === 'open' && arrival.stages ? arrival.stages.reduce((/** @type {number} */ s, /** @type {{seconds: number}} */ x) => s + x.seconds, 0) : durationSeconds
}

/** Seconds of a moment: seconds, or "50%" of the measured duration. @param {number|string} at @param {number} durationSeconds */
export function momentSeconds(at, durationSeconds) {
  return typeof at === 'number' ? at : (Number(at.slice(0, -1)) / 100) * durationSeconds
}

/** The open model's stages during the first `seconds` (a warm-up follows the same schedule). @param {any} arrival @param {number} seconds */
function stagesWithin(arrival, seconds) {
  const stages = arrival.stages || [{ seconds: Infinity, ratePerSec: arrival.ratePerSec }]
  /** @type {{seconds: number, ratePerSec: number}[]} */
  const out = []
  let left = seconds
  for (const s of stages) {
    if (left <= 0) break
    const span = Math.min(left, s.seconds)
    out.push({ seconds: span, ratePerSec: s.ratePerSec })
    left -= span
  }
  return out
}

/** Requests due in the first `seconds` of an open arrival (the runner's dueBy). @param {any} arrival @param {number} seconds */
export function dueBy(arrival, seconds) {
  return Math.floor(stagesWithin(arrival, seconds).reduce((n, s) => n + s.seconds * s.ratePerSec, 0))
}

/** The phases to run: all, or the ones named (an unknown name is an error naming the allowed ones). @param {any} def @param {string[]=} names */
export function selectPhases(def, names) {
  const all = def.phases.map((/** @type {{name: string}} */ p) => p.name)
  if (!names || names.length === 0) return def.phases
  for (const n of names) if (all.indexOf(n) < 0) throw new Error(`unknown phase "${n}" for scenario ${def.name}; allowed: ${all.join(', ')}`)
  return def.phases.filter((/** @type {{name: string}} */ p) => names.indexOf(p.name) >= 0)
}

/** A k6 scenario name (letters, digits, _ and - only). @param {number} index @param {string} phase @param {string} part */
export function k6ScenarioName(index, phase, part) {
  return `p${String(index + 1).padStart(2, '0')}_${phase.replace(/[^A-Za-z0-9_-]/g, '_')}_${part}`
}

/**
 * An event of the definition as an admin call k6 makes, or why k6 cannot make it. `frozenSeconds`:
 * for a SIGSTOP of the run's own Redis, how long until the phase's SIGCONT of it (or its end).
 * @param {any} ev @param {any} def @param {{ frozenSeconds?: number }} [context]
 * @returns {{ what: string, call: { method: string, path: string, body?: unknown } | null, approximation?: string, skipped?: string }}
 */
export function eventCall(ev, def, context) {
  if ('fault' in ev) {
    const body = Object.assign({ fault: ev.fault }, ev.params ? { params: ev.params } : {}, ev.durationSeconds ? { durationSeconds: ev.durationSeconds } : {})
    return { what: `fault ${ev.fault} on${ev.params ? ` ${JSON.stringify(ev.params)}` : ''}`, call: { method: 'POST', path: '/admin/chaos', body } }
  }
  if ('clearFault' in ev) return { what: `fault ${ev.clearFault} off`, call: { method: 'DELETE', path: `/admin/chaos/${encodeURIComponent(ev.clearFault)}` } }
  if ('action' in ev) {
    const body = Object.assign({ action: ev.action }, ev.params ? { params: ev.params } : {})
    return { what: `action ${ev.action}${ev.params ? ` ${JSON.stringify(ev.params)}` : ''}`, call: { method: 'POST', path: '/admin/chaos/actions', body } }
  }
  if ('admin' in ev) return { what: `${ev.admin.method} ${ev.admin.path}`, call: Object.assign({ method: ev.admin.method, path: ev.admin.path }, ev.admin.body !== undefined ? { body: ev.admin.body } : {}) }
  // A process signal: k6 talks HTTP only. The worker can be crashed through the admin API (the
  // worker-kill action: it SIGKILLs itself); the compose stack's restart policy brings it back.
  const what = `${ev.signal} ${ev.process}`
  // The run's own Redis (deployment.redis "own"). The compose stack's Redis is the lab's own too, so
  // a freeze becomes the redis-pause action (CLIENT PAUSE ALL: every command waits, as on a stopped
  // process) lasting until the definition's SIGCONT, which then has nothing left to do.
  if (ev.process === 'redis' && def.deployment && def.deployment.redis === 'own') {
    const frozenMs = context && context.frozenSeconds ? Math.max(1, Math.round(context.frozenSeconds * 1000)) : 0
    if (ev.signal === 'SIGSTOP' && frozenMs > 0) {
      return {
        what,
        call: { method: 'POST', path: '/admin/chaos/actions', body: { action: 'redis-pause', params: { ms: frozenMs, mode: 'all' } } },
        approximation: `k6 cannot signal processes: the stack's Redis is paused for ${frozenMs} ms with the redis-pause action (CLIENT PAUSE ALL), until the definition's SIGCONT`,
      }
    }
    if (ev.signal === 'SIGCONT') return { what, call: null, approximation: 'the redis-pause standing in for the SIGSTOP ends by itself at this moment' }
  }
  const processes = (def.deployment && def.deployment.processes) || []
  const spec = processes.find((/** @type {{name: string}} */ p) => p.name === ev.process)
  if (spec && spec.entry === WORKER_ENTRY && (ev.signal === 'SIGKILL' || ev.signal === 'restart')) {
    return {
      what,
      call: { method: 'POST', path: '/admin/chaos/actions', body: { action: 'worker-kill' } },
      approximation: `k6 cannot signal processes: every order worker is crashed with the worker-kill action (it SIGKILLs itself) and its supervisor (docker compose: restart unless-stopped) starts it again${ev.signal === 'SIGKILL' ? ', where the runner leaves it dead' : ', where the runner restarts it at once'}`,
    }
  }
  const service = spec && spec.entry === WORKER_ENTRY ? 'order-worker' : ev.process
  return {
    what,
    call: null,
    skipped: `k6 cannot send ${ev.signal} to "${ev.process}" (it only speaks HTTP, and the admin API has no action for it): do it from the host at that moment, e.g. docker compose ${ev.signal === 'restart' ? 'restart' : `kill --signal=${ev.signal}`} ${service}`,
  }
}

/** The smallest time unit (1, 10, 100 or 1000 s) in which every rate is a whole number (k6 rates are integers). @param {number[]} rates */
export function integerRates(rates) {
  for (const unit of [1, 10, 100, 1000]) {
    if (rates.every((r) => Math.abs(r * unit - Math.round(r * unit)) < 1e-9)) return { unit, rates: rates.map((r) => Math.round(r * unit)) }
  }
  return { unit: 1000, rates: rates.map((r) => Math.max(1, Math.round(r * 1000))) }
}

/** k6 duration string in whole milliseconds. @param {number} seconds */
export function ms(seconds) {
  return `${Math.max(0, Math.round(seconds * 1000))}ms`
}

/**
 * The k6 executor of a load part: open model → arrival-rate executors (constant, or ramping in
 * steps as the runner's stages are), maxVUs = maxInFlight (an arrival with every VU busy is a
 * dropped iteration, as the runner drops it); closed model → constant VUs.
 * @param {any} arrival @param {number} seconds
 * @returns {Record<string, unknown>}
 */
export function executorFor(arrival, seconds) {
  if (arrival.model === 'closed') return { executor: 'constant-vus', vus: arrival.concurrency, duration: ms(seconds) }
  const maxVUs = arrival.maxInFlight || DEFAULT_MAX_IN_FLIGHT
  const stages = stagesWithin(arrival, seconds)
  const peak = Math.max.apply(null, stages.map((s) => s.ratePerSec))
  // VUs made ready before the load: enough for 100 ms answers at the peak rate; k6 adds more up to maxVUs.
  const preAllocatedVUs = Math.min(maxVUs, Math.max(10, Math.ceil(peak * 0.1)))
  if (!arrival.stages) {
    const r = integerRates([arrival.ratePerSec])
    return { executor: 'constant-arrival-rate', rate: r.rates[0], timeUnit: `${r.unit}s`, duration: ms(seconds), preAllocatedVUs, maxVUs }
  }
  // The runner's stages hold a rate, k6's ramp towards it: jump (a 0 s stage), then hold.
  const r = integerRates(stages.map((s) => s.ratePerSec))
  return {
    executor: 'ramping-arrival-rate',
    startRate: r.rates[0],
    timeUnit: `${r.unit}s`,
    stages: stages.flatMap((s, i) => [{ duration: ms(0), target: r.rates[i] }, { duration: ms(s.seconds), target: r.rates[i] }]),
    preAllocatedVUs,
    maxVUs,
  }
}

/**
 * The whole run: selected phases in order with their workloads, events and timeline (seconds from
 * the test start), and the request sequences they replay.
 * @param {any} def the definition (scenarios/definitions/<name>.json)
 * @param {{ quick?: boolean, seed?: number, phases?: string[], durationSeconds?: number, setupSeconds?: number }} opts
 */
export function buildPlan(def, opts) {
  const quick = !!opts.quick
  const seed = opts.seed === undefined ? 1 : opts.seed
  const setupSeconds = opts.setupSeconds === undefined ? DEFAULT_SETUP_SECONDS : opts.setupSeconds
  /** @type {Record<string, { mix: any[], length: number, closed: boolean }>} */
  const sequences = {}
  let cursor = 0
  const phases = selectPhases(def, opts.phases).map((/** @type {any} */ phase, /** @type {number} */ index) => {
    const workload = resolveWorkload(def, phase, { quick, durationSeconds: opts.durationSeconds })
    const measuredSeconds = arrivalDurationSeconds(workload.arrival, workload.durationSeconds)
    const closed = workload.arrival.model === 'closed'
    const requests = closed ? { warmup: 0, measured: 0 } : { warmup: workload.warmupSeconds > 0 ? dueBy(workload.arrival, workload.warmupSeconds) : 0, measured: dueBy(workload.arrival, measuredSeconds) }
    const sequenceKey = JSON.stringify(workload.mix)
    const needed = closed ? CLOSED_SEQUENCE_LENGTH : requests.warmup + requests.measured + 16
    const seq = sequences[sequenceKey]
    sequences[sequenceKey] = { mix: workload.mix, length: Math.max(seq ? seq.length : 0, needed), closed: closed || (seq ? seq.closed : false) }
    // In-flight requests get their timeout to finish (k6's gracefulStop) before the next phase.
    const drainSeconds = Math.ceil(workload.requestTimeoutMs / 1000)
    const setupAt = cursor
    const warmupAt = setupAt + setupSeconds
    const measuredAt = warmupAt + workload.warmupSeconds
    const endAt = measuredAt + measuredSeconds + drainSeconds + workload.settleSeconds
    cursor = endAt
    const phaseEvents = phase.events || []
    const moments = phaseEvents.map((/** @type {any} */ ev) => momentSeconds(ev.at, measuredSeconds))
    const events = phaseEvents.map((/** @type {any} */ ev, /** @type {number} */ i) => {
      const at = moments[i]
      // A SIGSTOP of Redis lasts until the phase's next SIGCONT of it (or the end of the phase).
      const thaws = phaseEvents.map((/** @type {any} */ e, /** @type {number} */ j) => (e.process === ev.process && e.signal === 'SIGCONT' && moments[j] > at ? moments[j] : Infinity))
      const frozenSeconds = Math.min(measuredSeconds, ...thaws) - at
      return Object.assign({ index: i, at, startAt: measuredAt + at }, eventCall(ev, def, { frozenSeconds }))
    })
    return {
      index,
      name: phase.name,
      description: phase.description,
      strategies: phase.strategies,
      warm: phase.warm,
      workload,
      sequenceKey,
      requests,
      events,
      timeline: { setupAt, warmupAt, measuredAt, measuredSeconds, drainSeconds, settleSeconds: workload.settleSeconds, endAt },
    }
  })
  return { scenario: def.name, title: def.title, quick, seed, seededOrders: def.seed.orders, setupSeconds, phases, sequences, totalSeconds: cursor }
}

/**
 * The request sequence of a workload, as the runner draws it (same definition and seed, same
 * requests in the same order), each with its route pattern for the `name` tag.
 * @param {any[]} mix @param {{ seed: number, seededOrders: number }} opts @param {number} length
 */
export function requestSequence(mix, opts, length) {
  const workload = createWorkload({ mix }, opts)
  const out = []
  for (let i = 0; i < length; i++) {
    const r = workload.next()
    out.push(Object.assign({ name: r.kind === 'create' ? 'POST /orders' : `${r.method} /orders/:id` }, r))
  }
  return out
}

/**
 * The k6 scenarios of a plan: per phase a set-up (one iteration at the phase's start), the warm-up
 * and measured load (arrival-rate executors), and one scenario per event at its moment. Every
 * scenario tags its samples with `phase` and `stage`; `env` tells the exec function which phase,
 * stage and event it runs.
 * @param {ReturnType<typeof buildPlan>} plan
 */
export function k6Scenarios(plan) {
  /** @type {Record<string, Record<string, unknown>>} */
  const out = {}
  for (const p of plan.phases) {
    const base = { CACHELAB_PHASE: String(p.index) }
    const gracefulStop = ms(p.timeline.drainSeconds)
    out[k6ScenarioName(p.index, p.name, 'setup')] = {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: 1,
      startTime: ms(p.timeline.setupAt),
      maxDuration: ms(plan.setupSeconds + 60),
      exec: 'phaseSetup',
      env: base,
      tags: { phase: p.name, stage: 'setup' },
    }
    if (p.workload.warmupSeconds > 0) {
      out[k6ScenarioName(p.index, p.name, 'warmup')] = Object.assign(executorFor(p.workload.arrival, p.workload.warmupSeconds), {
        startTime: ms(p.timeline.warmupAt),
        gracefulStop,
        exec: 'phaseLoad',
        env: Object.assign({ CACHELAB_STAGE: 'warmup' }, base),
        tags: { phase: p.name, stage: 'warmup' },
      })
    }
    out[k6ScenarioName(p.index, p.name, 'measured')] = Object.assign(executorFor(p.workload.arrival, p.timeline.measuredSeconds), {
      startTime: ms(p.timeline.measuredAt),
      gracefulStop,
      exec: 'phaseLoad',
      env: Object.assign({ CACHELAB_STAGE: 'measured' }, base),
      tags: { phase: p.name, stage: 'measured' },
    })
    for (const ev of p.events) {
      if (!ev.call) continue
      out[k6ScenarioName(p.index, p.name, `event${ev.index + 1}`)] = {
        executor: 'per-vu-iterations',
        vus: 1,
        iterations: 1,
        startTime: ms(ev.startAt),
        maxDuration: '60s',
        exec: 'phaseEvent',
        env: Object.assign({ CACHELAB_EVENT: String(ev.index) }, base),
        tags: { phase: p.name, stage: 'event' },
      }
    }
  }
  return out
}

/** Baseline figures k6 measures itself, per phase, on its measured requests. */
const LATENCY_STATS = { 'latencyMs.p50': 'p(50)', 'latencyMs.p90': 'p(90)', 'latencyMs.p99': 'p(99)', 'latencyMs.max': 'max', 'latencyMs.mean': 'avg' }

/** @param {{min?: number, max?: number, equals?: number}} e @param {string} stat @param {number} scale */
function bounds(e, stat, scale) {
  /** @type {string[]} */
  const out = []
  const n = (/** @type {number} */ v) => String(Math.round(v * scale * 1000) / 1000)
  if (e.equals !== undefined) out.push(`${stat}==${n(e.equals)}`)
  if (e.min !== undefined) out.push(`${stat}>=${n(e.min)}`)
  if (e.max !== undefined) out.push(`${stat}<=${n(e.max)}`)
  return out
}

/**
 * k6 thresholds for a plan: the baselines of scenarios/baselines.json that k6 sees (errors,
 * requests, throughput, dropped, latency; per phase, on measured requests), the runner's dropped
 * share warning as a limit, and every check passing (set-ups, events, answers). Figures only
 * the service's /metrics or the effects module know (hit ratio, DB queries, effects) and phase
 * comparisons are returned in `notInK6`: the runner (npm run lab:ci) checks those.
 * @param {ReturnType<typeof buildPlan>} plan
 * @param {any} baselines scenarios/baselines.json (or undefined)
 */
export function k6Thresholds(plan, baselines) {
  /** @type {Record<string, (string | { threshold: string, abortOnFail?: boolean, delayAbortEval?: string })[]>} */
  const thresholds = {
    // Every check passes: set-up steps, events' admin calls, every 2xx answer being the order it is
    // about. (Thresholds on a sub-metric without samples fail in k6 ≥ 0.38: one on all checks has some.)
    checks: ['rate==1'],
    // A failed set-up step makes the rest meaningless: the run stops (the runner stops there too).
    cachelab_setup_failures: [{ threshold: 'count==0', abortOnFail: true }],
  }
  /** @type {{ phase: string, figure: string, expectation: unknown, why: string }[]} */
  const notInK6 = []
  /** @type {{ phase: string, figure: string, metric: string, conditions: string[] }[]} */
  const mapped = []
  const scenarioBaselines = (baselines && baselines.scenarios && baselines.scenarios[plan.scenario]) || {}
  const add = (/** @type {string} */ phase, /** @type {string} */ figure, /** @type {string} */ metric, /** @type {string[]} */ conditions) => {
    if (conditions.length === 0) return
    thresholds[metric] = (thresholds[metric] || []).concat(conditions)
    mapped.push({ phase, figure, metric, conditions })
  }
  for (const p of plan.phases) {
    const sel = `phase:${p.name},stage:measured`
    const measuredScenario = k6ScenarioName(p.index, p.name, 'measured')
    const expected = scenarioBaselines[p.name] || {}
    for (const figure of Object.keys(expected)) {
      const e = expected[figure]
      const rest = Object.assign({}, e)
      delete rest.abovePhase
      delete rest.belowPhase
      delete rest.phaseFactor
      if (e.abovePhase || e.belowPhase) notInK6.push({ phase: p.name, figure, expectation: { abovePhase: e.abovePhase, belowPhase: e.belowPhase, phaseFactor: e.phaseFactor }, why: 'a comparison between phases of one run: k6 thresholds are fixed limits' })
      if (Object.keys(rest).length === 0) continue
      if (figure === 'errors') add(p.name, figure, `http_reqs{${sel},expected_response:false}`, bounds(rest, 'count', 1))
      else if (figure === 'requests') add(p.name, figure, `http_reqs{${sel}}`, bounds(rest, 'count', 1))
      else if (figure === 'throughputPerSec') add(p.name, figure, `http_reqs{${sel}}`, bounds(rest, 'count', p.timeline.measuredSeconds))
      else if (figure === 'dropped') add(p.name, figure, `dropped_iterations{scenario:${measuredScenario}}`, bounds(rest, 'count', 1))
      else if (figure in LATENCY_STATS) add(p.name, figure, `http_req_duration{${sel}}`, bounds(rest, LATENCY_STATS[/** @type {keyof typeof LATENCY_STATS} */ (figure)], 1))
      else notInK6.push({ phase: p.name, figure, expectation: rest, why: 'measured on the service (/metrics, MySQL, Redis) by the runner, not by the client' })
    }
    if (p.workload.arrival.model === 'open' && !('dropped' in expected)) {
      add(p.name, 'dropped', `dropped_iterations{scenario:${measuredScenario}}`, [`count<=${Math.floor(p.requests.measured * DROPPED_SHARE_LIMIT)}`])
    }
  }
  return { thresholds, mapped, notInK6 }
}
