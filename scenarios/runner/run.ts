import { setTimeout as sleep } from 'node:timers/promises'
import type { Histogram } from 'hdr-histogram-js'
import { createWorkload } from '../lib/workload.js'
import { momentSeconds, resolvePhase } from './definition.js'
import { LabError, UsageError, describeError } from './errors.js'
import { DEFAULT_HEADLINE, round, standardFigures, summarize } from './figures.js'
import { arrivalDurationSeconds, createPools, latencyHistogram, runLoad, type LoadCounters } from './load.js'
import type { Progress } from './progress.js'
import { increase, metricsWindow, sharedValueAt, valueAt, type Snapshot } from './prom.js'
import { Result, type Definition, type PhaseEvent, type PhaseResult, type Series } from './schemas.js'
import { connectRemote, startLocal, type Target } from './target.js'
import type { RequestRecord, ResolvedPhase, ScenarioModule } from './types.js'
import { check } from './validate.js'

export interface RunOptions {
  quick: boolean
  seed: number
  /** Only these phases (names), in definition order. */
  phases?: string[]
  /** Overrides every phase's measured duration (seconds). */
  durationSeconds?: number
  /** Drive an existing deployment instead of starting one. */
  remote?: { baseUrl: string; adminToken: string; metricsUrls?: string[] }
  /** Extra environment for the service replicas the runner starts. */
  serviceEnv?: Record<string, string>
  progress: Progress
  signal: AbortSignal
}

/** The phases to run: all, or the ones named (unknown names are a usage error listing the allowed ones). */
export function selectPhases(def: Definition, names: string[] | undefined): Definition['phases'] {
  if (!names) return def.phases
  const all = def.phases.map((p) => p.name)
  for (const n of names) if (!all.includes(n)) throw new UsageError(`unknown phase "${n}" for scenario ${def.name}; allowed: ${all.join(', ')}`)
  return def.phases.filter((p) => names.includes(p.name))
}

/** Runs one scenario end to end: deployment, every phase, figures, effects; returns the validated result. */
export async function runScenario(def: Definition, module: ScenarioModule, opts: RunOptions): Promise<Result> {
  const phases = selectPhases(def, opts.phases).map((p) => resolvePhase(def, p, { quick: opts.quick, ...(opts.durationSeconds !== undefined ? { durationSeconds: opts.durationSeconds } : {}) }))
  const startedAt = new Date()
  const t0 = performance.now()
  const log = (m: string) => opts.progress.log(`[${def.name}] ${m}`)
  const target = opts.remote ? await connectRemote(def, opts.remote) : await startLocal(def, { log, ...(opts.serviceEnv ? { env: opts.serviceEnv } : {}) })
  const results: PhaseResult[] = []
  try {
    for (const [index, phase] of phases.entries()) {
      if (opts.signal.aborted) throw new LabError('interrupted', 130)
      results.push(await runPhase({ def, module, phase, index, total: phases.length, target, opts }))
    }
  } finally {
    opts.progress.clear()
    await target.close()
  }
  const headline = def.headline ?? [...DEFAULT_HEADLINE, ...def.effects.filter((e) => e.better !== 'none').map((e) => e.name)]
  const partial = { scenario: def.name, phases: results, effects: def.effects, headline }
  const result: Result = {
    scenario: def.name,
    title: def.title,
    quick: opts.quick,
    seed: opts.seed,
    startedAt: startedAt.toISOString(),
    durationSeconds: round((performance.now() - t0) / 1000, 1),
    target: { mode: target.mode, baseUrl: target.baseUrls[0]!, replicas: target.baseUrls.length },
    effects: def.effects,
    headline,
    summary: summarize(partial),
    phases: results,
  }
  return check<Result>(Result, result, `result of ${def.name} (a runner bug)`)
}

interface PhaseRun {
  def: Definition
  module: ScenarioModule
  phase: ResolvedPhase
  index: number
  total: number
  target: Target
  opts: RunOptions
}

async function runPhase(run: PhaseRun): Promise<PhaseResult> {
  const { def, module, phase, target, opts } = run
  const w = phase.workload
  const admin = target.admins[0]!
  const progressBase = { scenario: def.name, phase: phase.name, index: run.index, total: run.total }
  opts.progress.update({ ...progressBase, stage: 'set-up', elapsedSeconds: 0, durationSeconds: 0, requests: 0, ratePerSec: 0, errors: 0, dropped: 0 })

  // Every phase starts from the same place: no faults, baseline strategies plus its own, a clean cache.
  await admin.clearFaults()
  await admin.resetStrategies()
  const view = phase.strategies ? await admin.setStrategies(phase.strategies) : await admin.strategies()
  await waitForReplicas(target, JSON.stringify(view.strategies))
  await admin.flush()
  if (phase.warm) await admin.warm(phase.warm)
  await run.module.beforePhase?.({ scenario: def, phase, quick: opts.quick, seed: opts.seed, admin, target, mysql: target.mysql, redis: target.redis })

  const measuredSeconds = arrivalDurationSeconds(w.arrival, w.durationSeconds)
  const workload = createWorkload(w, { seed: opts.seed, seededOrders: def.seed.orders })
  const pools = createPools(target.baseUrls, w.arrival, w.requestTimeoutMs)
  const counters: LoadCounters = { sent: 0, completed: 0, errors: 0, dropped: 0, inFlight: 0 }
  const events: PhaseResult['events'] = []
  const records: RequestRecord[] = []
  const histogram = latencyHistogram()
  const windowHistogram = latencyHistogram()
  let stage: 'warm-up' | 'load' | 'settle' = 'warm-up'
  let stageStart = performance.now()
  let lastTick = { at: performance.now(), completed: 0 }
  let rate = 0
  const ticker = setInterval(() => {
    const now = performance.now()
    rate = ((counters.completed - lastTick.completed) * 1000) / Math.max(1, now - lastTick.at)
    lastTick = { at: now, completed: counters.completed }
    const durationSeconds = stage === 'warm-up' ? w.warmupSeconds : stage === 'load' ? measuredSeconds : w.settleSeconds
    opts.progress.update({ ...progressBase, stage, elapsedSeconds: (now - stageStart) / 1000, durationSeconds, requests: counters.completed, ratePerSec: rate, errors: counters.errors, dropped: counters.dropped })
  }, 250)

  try {
    if (w.warmupSeconds > 0) {
      await runLoad({ pools, next: workload.next, arrival: w.arrival, durationMs: w.warmupSeconds * 1000, timeoutMs: w.requestTimeoutMs, signal: opts.signal, clockZero: performance.now(), counters })
    }
    if (opts.signal.aborted) throw new LabError('interrupted', 130)

    // The measured part: counters start here, records are relative to clockZero.
    Object.assign(counters, { sent: 0, completed: 0, errors: 0, dropped: 0 })
    lastTick = { at: performance.now(), completed: 0 }
    const startSnap = await target.scrape()
    const clockZero = performance.now()
    const measuredStartedAt = Date.now()
    stage = 'load'
    stageStart = clockZero
    const sampler = startSampler({ target, def, intervalMs: w.sampleIntervalMs, epochZero: measuredStartedAt, counters, windowHistogram, first: startSnap })
    const eventTimers = scheduleEvents(phase.events ?? [], measuredSeconds, clockZero, target, events)
    await runLoad({
      pools,
      next: workload.next,
      arrival: w.arrival,
      durationMs: measuredSeconds * 1000,
      timeoutMs: w.requestTimeoutMs,
      signal: opts.signal,
      clockZero,
      counters,
      onRecord: (r) => {
        records.push(r)
        const us = Math.max(1, Math.round(r.latencyMs * 1000))
        histogram.recordValue(us)
        windowHistogram.recordValue(us)
      },
    })
    const loadSeconds = (performance.now() - clockZero) / 1000
    await eventTimers.settled()
    if (w.settleSeconds > 0 && !opts.signal.aborted) {
      stage = 'settle'
      stageStart = performance.now()
      await sleep(w.settleSeconds * 1000, undefined, { signal: opts.signal }).catch(() => {})
    }
    const series = await sampler.stop()
    const endSnap = await target.scrape()
    const measuredEndedAt = Date.now()
    if (opts.signal.aborted) throw new LabError('interrupted', 130)
    const failed = events.find((e) => !e.ok)
    if (failed) throw new LabError(`scenario ${def.name} phase ${phase.name}: event at ${failed.at} s (${failed.what}) failed: ${failed.detail}`)

    const window = metricsWindow(startSnap, endSnap)
    const figures = standardFigures(records, counters.dropped, window, histogram, loadSeconds)
    const effect = await module.effects({
      scenario: def,
      phase,
      quick: opts.quick,
      seed: opts.seed,
      records,
      metrics: window,
      series,
      events: structuredClone(events),
      figures,
      measuredStartedAt,
      measuredEndedAt,
      admin,
      target,
      mysql: target.mysql,
      redis: target.redis,
      note: (message) => {
        events.push({ at: round((performance.now() - clockZero) / 1000, 2), what: 'note', ok: true, detail: message })
        opts.progress.log(`[${def.name}] ${phase.name}: ${message}`)
      },
    })
    checkEffects(def, phase.name, effect)
    const current = await admin.strategies()
    const strategies = Object.fromEntries(Object.entries(current.strategies).map(([f, s]) => [f, s.mode]))
    const strategyParams = Object.fromEntries(Object.keys(phase.strategies ?? {}).map((f) => [f, current.strategies[f]?.params ?? {}]))
    opts.progress.log(
      `[${def.name}] ${phase.name}: ${figures.requests} requests, ${figures.errors} errors, hit ratio ${figures.hitRatio ?? '–'}, ${figures.dbQueries} DB queries (${figures.dbQueriesPer1k ?? '–'}/1k), p99 ${figures.latencyMs.p99 ?? '–'} ms`,
    )
    const due = figures.requests + figures.dropped
    if (due > 0 && figures.dropped / due > 0.05) {
      // Open model: the service (or this machine) could not keep up; the figures describe an overload.
      opts.progress.log(`[${def.name}] ${phase.name}: warning: ${figures.dropped} of ${due} requests due were dropped (maxInFlight reached): the service or this machine could not keep up`)
    }
    return {
      name: phase.name,
      ...(phase.description ? { description: phase.description } : {}),
      strategies,
      strategyParams,
      ...figures,
      effect,
      events,
      series,
    }
  } finally {
    clearInterval(ticker)
    opts.progress.clear()
    await Promise.all(pools.map((p) => p.destroy()))
    // Faults never outlive their phase.
    await admin.clearFaults().catch(() => {})
  }
}

/** After a strategy change, waits until every replica reports the same state (it propagates by pub/sub). */
async function waitForReplicas(target: Target, expected: string): Promise<void> {
  if (target.admins.length <= 1) return
  const deadline = Date.now() + 5000
  for (const a of target.admins.slice(1)) {
    for (;;) {
      const view = await a.strategies()
      if (JSON.stringify(view.strategies) === expected) break
      if (Date.now() > deadline) throw new LabError(`replica ${a.baseUrl} did not apply the phase's strategies within 5 s`)
      await sleep(50)
    }
  }
}

function checkEffects(def: Definition, phase: string, effect: Record<string, number | null>): void {
  const declared = def.effects.map((e) => e.name)
  const where = `scenarios/effects/${def.name}.ts (phase ${phase})`
  for (const name of declared) if (!(name in effect)) throw new LabError(`${where} returned no "${name}"; the definition declares: ${declared.join(', ')}`)
  for (const [name, v] of Object.entries(effect)) {
    if (!declared.includes(name)) throw new LabError(`${where} returned "${name}", which the definition does not declare in "effects"`)
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) throw new LabError(`${where}: "${name}" must be a finite number or null, got ${String(v)}`)
  }
}

function describeEvent(ev: PhaseEvent): string {
  if ('fault' in ev) return `fault ${ev.fault} on${ev.params ? ` ${JSON.stringify(ev.params)}` : ''}`
  if ('clearFault' in ev) return `fault ${ev.clearFault} off`
  if ('action' in ev) return `action ${ev.action}${ev.params ? ` ${JSON.stringify(ev.params)}` : ''}`
  if ('admin' in ev) return `${ev.admin.method} ${ev.admin.path}`
  return `${ev.signal} ${ev.process}`
}

/** Runs the phase's events at their moments (relative to the measured start); results go to `out`. */
function scheduleEvents(list: PhaseEvent[], durationSeconds: number, clockZero: number, target: Target, out: PhaseResult['events']) {
  const admin = target.admins[0]!
  const running: Promise<void>[] = []
  const timers = list.map((ev) =>
    setTimeout(() => {
      const at = round((performance.now() - clockZero) / 1000, 2)
      const what = describeEvent(ev)
      const exec = async (): Promise<unknown> => {
        if ('fault' in ev) return admin.fault(ev.fault, ev.params, ev.durationSeconds)
        if ('clearFault' in ev) return admin.clearFault(ev.clearFault)
        if ('action' in ev) return (await admin.action(ev.action, ev.params)).result
        if ('admin' in ev) return admin.call(ev.admin.method, ev.admin.path, ev.admin.body)
        if (!target.processes) throw new Error('process events need a local run')
        return target.processes.signal(ev.process, ev.signal)
      }
      running.push(
        exec().then(
          (res) => void out.push({ at, what, ok: true, ...(res !== undefined && 'action' in ev ? { detail: JSON.stringify(res) } : {}) }),
          (err) => void out.push({ at, what, ok: false, detail: describeError(err) }),
        ),
      )
    }, momentSeconds(ev.at, durationSeconds) * 1000 - (performance.now() - clockZero)),
  )
  return {
    async settled() {
      for (const t of timers) clearTimeout(t)
      await Promise.all(running)
      out.sort((a, b) => a.at - b.at)
    },
  }
}

interface SamplerOptions {
  target: Target
  def: Definition
  intervalMs: number
  /** Epoch ms of the measured start: samples are stamped with their scrape's time relative to it. */
  epochZero: number
  counters: LoadCounters
  windowHistogram: Histogram
  first: Snapshot
}

/** Samples /metrics and the client's counters every intervalMs into the phase's time series. */
function startSampler(o: SamplerOptions) {
  const series: Series = { intervalMs: o.intervalMs, t: [], requestsPerSec: [], errorsPerSec: [], dbQueriesPerSec: [], hitRatio: [], p99Ms: [], dbInFlight: [], clientInFlight: [], extra: {} }
  for (const s of o.def.series ?? []) series.extra[s.name] = []
  let prev = o.first
  let prevCounters = { completed: 0, errors: 0 }
  let stopped = false
  const sampleOnce = async () => {
    const snap = await o.target.scrape()
    const dt = Math.max(0.001, (snap.at - prev.at) / 1000)
    const lookups = increase(prev, snap, 'cachelab_cache_lookups_total')
    const hits = increase(prev, snap, { name: 'cachelab_cache_lookups_total', labels: { outcome: 'hit' } })
    const h = o.windowHistogram
    // Stamped when the scrape was sent, not when its answers were in (a slow scrape would shift it).
    series.t.push(round((snap.at - o.epochZero) / 1000, 2))
    series.requestsPerSec.push(round((o.counters.completed - prevCounters.completed) / dt, 1))
    series.errorsPerSec.push(round((o.counters.errors - prevCounters.errors) / dt, 1))
    series.dbQueriesPerSec.push(round(increase(prev, snap, 'cachelab_db_queries_total') / dt, 1))
    series.hitRatio.push(lookups > 0 ? round(hits / lookups, 4) : null)
    series.p99Ms.push(h.totalCount > 0 ? round(h.getValueAtPercentile(99) / 1000, 3) : null)
    series.dbInFlight.push(valueAt(snap, 'cachelab_db_queries_in_flight'))
    series.clientInFlight.push(o.counters.inFlight)
    for (const s of o.def.series ?? []) series.extra[s.name]!.push(s.kind === 'rate' ? round(increase(prev, snap, s.metric) / dt, 2) : s.shared ? sharedValueAt(snap, s.metric) : valueAt(snap, s.metric))
    h.reset()
    prev = snap
    prevCounters = { completed: o.counters.completed, errors: o.counters.errors }
  }
  const loop = (async () => {
    let next = performance.now() + o.intervalMs
    while (!stopped) {
      await sleep(Math.max(0, next - performance.now()))
      if (stopped) break
      next += o.intervalMs
      try {
        await sampleOnce()
      } catch {
        // a missed sample (a replica restarting) leaves a gap, not a failed phase
      }
    }
  })()
  return {
    async stop(): Promise<Series> {
      stopped = true
      await loop
      return series
    },
  }
}
