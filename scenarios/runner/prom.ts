import { request } from 'undici'
import { LabError, describeError } from './errors.js'

// Reading the service's /metrics (Prometheus text format, as prom-client writes it). Figures are
// deltas of counters over a window, summed over every process that exposes /metrics.

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** One scrape: per process (its URL, in the order scraped), every sample. */
export interface Snapshot {
  /** Epoch ms when the scrape was sent (every process is asked at once). */
  at: number
  processes: Map<string, Sample[]>
}

export interface Selector {
  name: string
  labels: Record<string, string>
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the text exposition format; comments and malformed lines are skipped. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1')
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3])
    out.push({ name: m[1]!, labels, value })
  }
  return out
}

/** `name` or `name{label="value",...}` */
export function parseSelector(text: string): Selector {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/.exec(text.trim())
  if (!m) throw new LabError(`bad metric selector "${text}": expected name or name{label="value"}`)
  const labels: Record<string, string> = {}
  if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = l[2]!
  return { name: m[1]!, labels }
}

function matches(s: Sample, sel: Selector): boolean {
  if (s.name !== sel.name) return false
  for (const [k, v] of Object.entries(sel.labels)) if (s.labels[k] !== v) return false
  return true
}

function toSelector(sel: string | Selector): Selector {
  return typeof sel === 'string' ? parseSelector(sel) : sel
}

/** Sum of the matching samples of one process. */
function sumOf(samples: Sample[] | undefined, sel: Selector): number {
  let total = 0
  for (const s of samples ?? []) if (matches(s, sel)) total += s.value
  return total
}

/** Sum over processes of the matching samples. */
export function valueAt(snap: Snapshot, sel: string | Selector): number {
  const s = toSelector(sel)
  let total = 0
  for (const samples of snap.processes.values()) total += sumOf(samples, s)
  return total
}

/**
 * The value of the first process (in scrape order) exposing a matching sample: for a gauge every
 * process reads from the same place (a queue depth read from Redis by the service and the worker),
 * which summing would count once per process.
 */
export function sharedValueAt(snap: Snapshot, sel: string | Selector): number {
  const s = toSelector(sel)
  for (const samples of snap.processes.values()) if (samples.some((x) => matches(x, s))) return sumOf(samples, s)
  return 0
}

const START_TIME: Selector = { name: 'process_start_time_seconds', labels: {} }

/** True when the process at this URL is not the one scraped before (killed and started again). */
function restarted(before: Sample[], after: Sample[]): boolean {
  const a = before.find((x) => matches(x, START_TIME))
  const b = after.find((x) => matches(x, START_TIME))
  return !!a && !!b && a.value !== b.value
}

/**
 * Increase of the matching counters between two snapshots, summed over processes. A process that
 * was restarted in between (its start time changed, or else its counter went down) counts from zero:
 * its increase is its new value. (Its counts between `from` and its death are not seen: a window
 * over a restart undercounts; a series of short windows sees nearly all of them.)
 */
export function increase(from: Snapshot, to: Snapshot, sel: string | Selector): number {
  const s = toSelector(sel)
  let total = 0
  for (const [proc, samples] of to.processes) {
    const end = sumOf(samples, s)
    const before = from.processes.get(proc)
    const start = sumOf(before, s)
    total += before && restarted(before, samples) ? end : end >= start ? end - start : end
  }
  return total
}

/** Increase per label value of one label (e.g. lookups by outcome). */
export function increaseBy(from: Snapshot, to: Snapshot, name: string, label: string): Record<string, number> {
  const values = new Set<string>()
  for (const samples of to.processes.values()) for (const s of samples) if (s.name === name && s.labels[label] !== undefined) values.add(s.labels[label]!)
  const out: Record<string, number> = {}
  for (const v of [...values].sort()) out[v] = increase(from, to, { name, labels: { [label]: v } })
  return out
}

/** /metrics over a window, for effects modules. */
export interface MetricsWindow {
  readonly start: Snapshot
  readonly end: Snapshot
  /** Increase of the matching counter series over the window, summed over processes. */
  delta(selector: string): number
  /** Increase per value of one label, e.g. deltaBy('cachelab_db_queries_total', 'operation'). */
  deltaBy(name: string, label: string): Record<string, number>
  /** Value (e.g. a gauge) at the start / end of the window, summed over processes. */
  startValue(selector: string): number
  endValue(selector: string): number
}

export function metricsWindow(start: Snapshot, end: Snapshot): MetricsWindow {
  return {
    start,
    end,
    delta: (sel) => increase(start, end, sel),
    deltaBy: (name, label) => increaseBy(start, end, name, label),
    startValue: (sel) => valueAt(start, sel),
    endValue: (sel) => valueAt(end, sel),
  }
}

/**
 * Scrapes every URL's /metrics in parallel. A process that does not answer (killed by a chaos
 * event) is left out of this snapshot; if none answers, that is an error.
 */
export async function scrape(metricsUrls: string[], timeoutMs = 5000): Promise<Snapshot> {
  const at = Date.now()
  const failures: string[] = []
  const answers = await Promise.all(
    metricsUrls.map(async (url) => {
      try {
        const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
        return [url, parsePrometheus(text)] as const
      } catch (err) {
        failures.push(`${url}: ${describeError(err)}`)
        return undefined
      }
    }),
  )
  // In the order of the URLs (not of the answers), so that "the first process" is always the same one.
  const processes = new Map<string, Sample[]>(answers.filter((a) => a !== undefined))
  if (processes.size === 0) throw new LabError(`could not read metrics from ${failures.join('; ')}`)
  return { at, processes }
}
