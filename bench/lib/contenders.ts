import { cpuMs } from './cpu.js'
import { load, type LoadResult } from './load.js'
import type { ServerProcess } from './processes.js'
import { scrapeCounters } from './service.js'

/** One side of an HTTP comparison: the server processes that share its load. */
export interface Contender {
  name: string
  servers: ServerProcess[]
  /** Runs before every measurement of this contender (e.g. switch a strategy mode). */
  prepare?: () => Promise<void>
  /** Seconds of unmeasured load after prepare: code paths a switch just changed get optimized again first. */
  settleSec?: number
  /** Reads the servers' own counts of cache hits and of reads served, so a measurement can prove it measured hits. */
  countHits?: () => Promise<{ hits: number; reads: number }>
}

export interface Measurement extends LoadResult {
  contender: string
  round: number
  /** Server CPU time (all its processes) per 2xx response, µs; undefined without /proc. */
  serverCpuUsPerRequest?: number
  serverCpuMs?: number
  /** This process's (the load generator's) CPU time over wall time: near 1 means it was the bottleneck. */
  generatorCpuShare: number
  generatorCpuMs: number
  /** Cache hits per GET /orders/:id the servers answered 200 (1 when every read was a hit). */
  hitFraction?: number
  hits?: number
  reads?: number
}

export interface HttpLoad {
  connections: number
  durationSec: number
  paths: string[]
}

/** Loads one contender once and records its throughput and CPU cost (and its hits, unless told not to count them). */
export async function measure(c: Contender, round: number, opts: HttpLoad, countHits = true): Promise<Measurement> {
  await c.prepare?.()
  if (c.settleSec) await load(c.servers.map((s) => s.url), { ...opts, durationSec: c.settleSec })
  const hits0 = countHits ? await c.countHits?.() : undefined
  const cpu0 = c.servers.map((s) => cpuMs(s.pid))
  const gen0 = process.cpuUsage()
  const res = await load(
    c.servers.map((s) => s.url),
    opts,
  )
  const gen = process.cpuUsage(gen0)
  const cpu1 = c.servers.map((s) => cpuMs(s.pid))
  const hits1 = hits0 ? await c.countHits?.() : undefined
  const used = cpu1.every((v, i) => v !== undefined && cpu0[i] !== undefined) ? cpu1.reduce<number>((sum, v, i) => sum + (v! - cpu0[i]!), 0) : undefined
  return derive({
    contender: c.name,
    round,
    ...res,
    ...(used !== undefined ? { serverCpuMs: used } : {}),
    generatorCpuMs: (gen.user + gen.system) / 1000,
    generatorCpuShare: 0,
    ...(hits0 && hits1 ? { hits: hits1.hits - hits0.hits, reads: hits1.reads - hits0.reads } : {}),
  })
}

function derive(m: Measurement): Measurement {
  return {
    ...m,
    rps: m.ok / m.elapsedSec,
    generatorCpuShare: m.generatorCpuMs / 1000 / m.elapsedSec,
    ...(m.serverCpuMs !== undefined && m.ok > 0 ? { serverCpuUsPerRequest: (m.serverCpuMs * 1000) / m.ok } : {}),
    ...(m.hits !== undefined && m.reads ? { hitFraction: m.hits / m.reads } : {}),
  }
}

/** One measurement made of several slices: totals added, rates recomputed from the totals. */
function combine(slices: Measurement[]): Measurement {
  const sum = (f: (m: Measurement) => number | undefined) => (slices.every((m) => f(m) !== undefined) ? slices.reduce((n, m) => n + f(m)!, 0) : undefined)
  const serverCpuMs = sum((m) => m.serverCpuMs)
  const counted = slices.filter((m) => m.hits !== undefined)
  const hits = counted.length > 0 ? counted.reduce((n, m) => n + m.hits!, 0) : undefined
  const reads = counted.length > 0 ? counted.reduce((n, m) => n + m.reads!, 0) : undefined
  return derive({
    ...slices[0]!,
    ok: sum((m) => m.ok)!,
    non2xx: sum((m) => m.non2xx)!,
    errors: sum((m) => m.errors)!,
    timeouts: sum((m) => m.timeouts)!,
    elapsedSec: sum((m) => m.elapsedSec)!,
    generatorCpuMs: sum((m) => m.generatorCpuMs)!,
    latencyP50Ms: Math.max(...slices.map((m) => m.latencyP50Ms)),
    latencyP99Ms: Math.max(...slices.map((m) => m.latencyP99Ms)),
    serverCpuMs,
    hits,
    reads,
  })
}

/** Two contenders compared: `a / b` is the figure. */
export interface Pair {
  a: Contender
  b: Contender
}

export interface PairResult {
  a: Measurement[]
  b: Measurement[]
}

/**
 * Rounds of side-by-side measurements, one pair after the other. Within a round the pair's two
 * contenders alternate slice by slice (A B B A ...), which cancels a steady drift of the
 * machine's speed; each ratio compares measurements taken moments apart. A pair's rounds run
 * together after a warm-up of both sides, so both processes are equally warm: on a loaded
 * machine a process left idle while others were measured was measurably slower at first.
 */
export async function pairedRounds(pairs: Pair[], n: number, opts: HttpLoad & { slices?: number; beforeRound?: () => Promise<void> }, onMeasured: (m: Measurement) => void): Promise<PairResult[]> {
  const slices = opts.slices ?? 1
  const slice = { ...opts, durationSec: opts.durationSec / slices }
  const out: PairResult[] = []
  for (const p of pairs) {
    const result: PairResult = { a: [], b: [] }
    out.push(result)
    for (let r = -1; r < n; r++) {
      await opts.beforeRound?.()
      const parts = { a: [] as Measurement[], b: [] as Measurement[] }
      for (let k = 0; k < slices; k++) {
        // Hits are counted on the first slice only: a scrape between slices costs the machine time.
        for (const side of (r + k) % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) parts[side].push(await measure(p[side], r, slice, k === 0 && r >= 0))
      }
      if (r < 0) continue // warm-up round
      for (const side of ['a', 'b'] as const) {
        const m = combine(parts[side])
        result[side].push(m)
        onMeasured(m)
      }
    }
  }
  return out
}

const HITS = { name: 'cachelab_cache_lookups_total', labels: { outcome: 'hit' } }
const READS = { name: 'http_request_duration_seconds_count', labels: { method: 'GET', route: '/orders/:id', status_code: '200' } }

/** Cache hits and 200 answers of GET /orders/:id, from the given services' /metrics. */
export function hitCounter(servers: ServerProcess[]): () => Promise<{ hits: number; reads: number }> {
  return async () => {
    let hits = 0
    let reads = 0
    for (const p of servers) {
      const [h, r] = await scrapeCounters(p.url, [HITS, READS])
      hits += h!
      reads += r!
    }
    return { hits, reads }
  }
}

export function compare(a: Measurement[], b: Measurement[]): { rps: number[]; cpu: number[] | undefined } {
  const rps = a.map((m, i) => m.rps / b[i]!.rps)
  const cpuOk = a.every((m, i) => m.serverCpuUsPerRequest !== undefined && b[i]!.serverCpuUsPerRequest !== undefined)
  return { rps, cpu: cpuOk ? a.map((m, i) => b[i]!.serverCpuUsPerRequest! / m.serverCpuUsPerRequest!) : undefined }
}
