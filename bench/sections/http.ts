import type { Fixture } from '../lib/fixture.js'
import { compare, pairedRounds, type Contender, type HttpLoad, type Measurement, type Pair, type PairResult } from '../lib/contenders.js'
import type { ServerProcess } from '../lib/processes.js'
import { withGoal, type Figure, type SectionId } from '../lib/report.js'
import { Admin, scrapeCounter, scrapeCounters, startBare, startService } from '../lib/service.js'
import { summarize } from '../lib/stats.js'

export interface HttpSettings extends HttpLoad {
  rounds: number
  slices: number
  keys: number
  sections: Set<SectionId>
  /** Sets of fresh server processes the rounds are split among (at most one per round). */
  processSets: number
}

export interface HttpReport {
  figures: Figure[]
  measurements: Measurement[]
  checks: Record<string, unknown>
}

/**
 * Sections 1, 3 and 5, as pairs of contenders measured in alternating rounds: the hit path
 * (default strategies) against the bare route, with metrics on and off, and on one and two service
 * processes. Every contender is a child process (or two) on a free port in the same key prefix,
 * loaded by this process.
 *
 * The rounds are split among `processSets` sets of fresh processes. Two processes of the same code
 * differ by up to ±15% in throughput for their whole life (`npm run bench:perf -- --against self`:
 * their JIT does not make the same code), so the rounds of one set would all share one pair's
 * bias and print a spread that hides it; with fresh sets that spread is in the figures.
 */
export async function runHttpSections(fx: Fixture, s: HttpSettings, log: (msg: string) => void): Promise<HttpReport> {
  const sets = Math.max(1, Math.min(s.processSets, s.rounds))
  const roundsOf = (k: number) => Math.floor(s.rounds / sets) + (k < s.rounds % sets ? 1 : 0)
  const runs: ProcessSetRun[] = []
  let offset = 0
  for (let k = 0; k < sets; k++) {
    log(`  process set ${k + 1}/${sets}: ${roundsOf(k)} rounds`)
    runs.push(await runProcessSet(fx, { ...s, rounds: roundsOf(k) }, offset, log))
    offset += roundsOf(k)
  }
  const names = runs[0]!.figures
  const results: PairResult[] = names.map((_, i) => ({ a: runs.flatMap((r) => r.results[i]!.a), b: runs.flatMap((r) => r.results[i]!.b) }))
  const figures: Figure[] = []
  for (const [i, figure] of names.entries()) {
    const r = compare(results[i]!.a, results[i]!.b)
    const cpu = r.cpu ? { cpu: summarize(r.cpu) } : {}
    if (figure === 'hit') figures.push(withGoal({ section: 'hit', id: 'hit-efficiency', name: 'GET /orders/:id hit: ours / bare Fastify + ioredis GET', unit: 'ratio', summary: summarize(r.rps), goal: { op: '>=', value: 0.9 }, ...cpu }))
    if (figure === 'metrics') figures.push(withGoal({ section: 'metrics', id: 'metrics-cost', name: 'metrics on / off (cost ≤ 5%)', unit: 'ratio', summary: summarize(r.rps), goal: { op: '>=', value: 0.95 }, ...cpu }))
    if (figure === 'scaling') figures.push({ section: 'scaling', id: 'scaling-2-processes', name: '2 service processes / 1', unit: 'ratio', summary: summarize(r.rps), ...cpu, note: 'the load generator and Redis share the same 2 cores' })
  }
  return { figures, measurements: results.flatMap((r) => [...r.a, ...r.b]), checks: { processSets: sets, perProcessSet: runs.map((r) => r.checks) } }
}

interface ProcessSetRun {
  figures: string[]
  results: PairResult[]
  checks: Record<string, unknown>
}

/** Starts the contenders' processes, runs `s.rounds` rounds of every pair on them, stops them. */
async function runProcessSet(fx: Fixture, s: HttpSettings, roundOffset: number, log: (msg: string) => void): Promise<ProcessSetRun> {
  const want = (id: SectionId) => s.sections.has(id)
  const prefix = `${fx.prefix}hit:`
  const started: ServerProcess[] = []
  const start = async (p: Promise<ServerProcess>) => {
    const server = await p
    started.push(server)
    return server
  }
  try {
    const ours = await start(startService(fx, 'ours', prefix))
    const [bare, noMetrics, replica] = await Promise.all([
      want('hit') ? start(startBare(fx, 'bare', prefix)) : undefined,
      want('metrics') ? start(startService(fx, 'ours-metrics-off', prefix, { METRICS_ENABLED: 'false' })) : undefined,
      want('scaling') ? start(startService(fx, 'ours-replica-2', prefix)) : undefined,
    ])
    const admin = new Admin(ours.url, fx.adminToken)
    await admin.call('DELETE', '/admin/strategies')
    await admin.rewarm(s.keys)

    // Hits are counted once before the rounds and once after, not around every measurement: a
    // /metrics scrape of ours right before its measurement left garbage that ours then collected
    // inside its measured window, a cost the other side never paid (in the metrics pair too).
    const ourOne: Contender = { name: 'ours', servers: [ours] }
    const pairs: { figure: string; pair: Pair }[] = []
    if (bare) pairs.push({ figure: 'hit', pair: { a: ourOne, b: { name: 'bare', servers: [bare] } } })
    if (noMetrics) pairs.push({ figure: 'metrics', pair: { a: ourOne, b: { name: 'ours-metrics-off', servers: [noMetrics] } } })
    if (replica) pairs.push({ figure: 'scaling', pair: { a: { name: 'ours-2-processes', servers: [ours, replica] }, b: ourOne } })

    // The key mix is written again (a fresh TTL) when its last writing is 2 minutes old, so a slow
    // run never measures expiries (orders live 5 minutes); not before every round: a warm-up makes
    // garbage in ours that the bare route never has to collect.
    let warmedAt = Date.now()
    const rewarmIfOld = async () => {
      if (Date.now() - warmedAt < 120_000) return
      await admin.warm(s.keys)
      warmedAt = Date.now()
    }
    const lookupServers = replica ? [ours, replica] : [ours]
    const countLookups = async () => {
      const counts = await Promise.all(lookupServers.map((p) => scrapeCounters(p.url, [{ name: 'cachelab_cache_lookups_total', labels: { outcome: 'hit' } }, { name: 'cachelab_cache_lookups_total' }])))
      return { hits: counts.reduce((n, [h]) => n + h!, 0), lookups: counts.reduce((n, [, l]) => n + l!, 0) }
    }
    const before = await countLookups()
    const results = await pairedRounds(
      pairs.map((p) => p.pair),
      s.rounds,
      { ...s, beforeRound: rewarmIfOld },
      (m) => log(`  round ${roundOffset + m.round + 1} ${m.contender.padEnd(17)} ${m.rps.toFixed(0).padStart(6)} req/s${m.serverCpuUsPerRequest ? `  ${m.serverCpuUsPerRequest.toFixed(0)} µs CPU/req` : ''}`),
    )
    const all = results.flatMap((r) => [...r.a, ...r.b])
    const failed = all.filter((m) => m.non2xx + m.errors + m.timeouts > 0)
    if (failed.length > 0) throw new Error(`non-2xx responses or errors during the hit-path rounds: ${JSON.stringify(failed.map((m) => ({ contender: m.contender, non2xx: m.non2xx, errors: m.errors })))}`)

    // Every lookup of ours must have been a cache hit (all the load, warm-up rounds included), and
    // the metrics-off process must have counted nothing: its per-request metric work is really off.
    const after = await countLookups()
    const hits = after.hits - before.hits
    const lookups = after.lookups - before.lookups
    if (hits !== lookups || hits === 0) throw new Error(`${lookups - hits} of ${lookups} cache lookups of ours were not hits during the hit-path rounds`)
    const checks: Record<string, unknown> = { oursLookups: { hits, lookups } }
    if (noMetrics) {
      checks.metricsOffLookupsCounted = await scrapeCounter(noMetrics.url, 'cachelab_cache_lookups_total')
      checks.metricsOffHttpObservations = await scrapeCounter(noMetrics.url, 'http_request_duration_seconds_count')
    }
    for (const r of results) for (const m of [...r.a, ...r.b]) m.round += roundOffset
    return { figures: pairs.map((p) => p.figure), results, checks }
  } finally {
    await Promise.all(started.map((p) => p.stop()))
  }
}
