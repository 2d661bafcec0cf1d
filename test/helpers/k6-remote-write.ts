import { readFileSync } from 'node:fs'
import { pushTimeseries } from 'prometheus-remote-write'
import { parse } from 'yaml'

/**
 * What k6's `experimental-prometheus-rw` output sends, for tests that have no k6: the same metric
 * names (k6's mapping: counters k6_<name>_total, gauges k6_<name>, rates k6_<name>_rate, trends one
 * gauge per stat k6_<name>_<stat> in seconds) and tags, written through Prometheus's remote-write
 * receiver in its protobuf + snappy format (the prometheus-remote-write package).
 */
export type K6MetricType = 'counter' | 'gauge' | 'rate' | 'trend'

/** The trend stats docker-compose.yml configures for k6 (K6_PROMETHEUS_RW_TREND_STATS). */
export function composeTrendStats(): string[] {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, { environment?: Record<string, string> }> }
  const stats = compose.services.k6?.environment?.K6_PROMETHEUS_RW_TREND_STATS
  if (!stats) throw new Error('docker-compose.yml: the k6 service sets no K6_PROMETHEUS_RW_TREND_STATS')
  return stats.split(',').map((s) => s.trim())
}

/** k6's series name suffix for a trend stat: p(99) → p99, p(99.9) → p999, avg → avg. */
export function trendStatSuffix(stat: string): string {
  const m = /^p\((.+)\)$/.exec(stat)
  return m ? `p${m[1]!.replace('.', '')}` : stat
}

export function k6SeriesNames(name: string, type: K6MetricType, trendStats: string[]): string[] {
  switch (type) {
    case 'counter':
      return [`k6_${name}_total`]
    case 'gauge':
      return [`k6_${name}`]
    case 'rate':
      return [`k6_${name}_rate`]
    case 'trend':
      return trendStats.map((s) => `k6_${name}_${trendStatSuffix(s)}`)
  }
}

interface SimSeries {
  name: string
  type: K6MetricType
  tags: Record<string, string>
  /** Next value (counters accumulate it). */
  next: (tick: number) => number
  total: number
}

/**
 * A simulated k6 run: the built-in metrics a script hitting the order service produces, tagged
 * as k6 tags them (plus the run's `testid`). `push()` sends one flush, like k6 does every push
 * interval.
 */
export class SimulatedK6Run {
  private tick = 0
  private readonly series: SimSeries[]

  constructor(
    private readonly url: string,
    readonly testid: string,
    private readonly trendStats: string[],
  ) {
    const scenario = 'dashboards-check'
    const ok = { scenario, method: 'GET', status: '200', expected_response: 'true', name: 'GET /orders/:id', url: 'GET /orders/:id', proto: 'HTTP/1.1' }
    const missing = { ...ok, status: '404', expected_response: 'false' }
    const sim = (name: string, type: K6MetricType, tags: Record<string, string>, next: (tick: number) => number): SimSeries => ({ name, type, tags, next, total: 0 })
    this.series = [
      sim('http_reqs', 'counter', ok, () => 40),
      sim('http_reqs', 'counter', missing, () => 10),
      sim('http_req_duration', 'trend', ok, (t) => 0.002 + (t % 5) * 0.001),
      sim('http_req_duration', 'trend', missing, (t) => 0.003 + (t % 3) * 0.001),
      sim('http_req_failed', 'rate', ok, () => 0),
      sim('http_req_failed', 'rate', missing, () => 1),
      sim('iterations', 'counter', { scenario }, () => 50),
      sim('dropped_iterations', 'counter', { scenario }, (t) => (t % 4 === 0 ? 1 : 0)),
      sim('checks', 'rate', { scenario, check: 'status is 200 or 404' }, () => 1),
      sim('vus', 'gauge', {}, (t) => 5 + (t % 3)),
      sim('vus_max', 'gauge', {}, () => 20),
      sim('data_sent', 'counter', { scenario }, () => 4000),
      sim('data_received', 'counter', { scenario }, () => 20000),
    ]
  }

  /** Every series name this run writes. */
  names(): string[] {
    return [...new Set(this.series.flatMap((s) => k6SeriesNames(s.name, s.type, this.trendStats)))]
  }

  async push(): Promise<void> {
    const timestamp = Date.now()
    this.tick += 1
    const timeseries = this.series.flatMap((s) => {
      const v = s.next(this.tick)
      // Counters are cumulative; a trend's stats are over the whole run (approximated by v).
      const value = s.type === 'counter' ? (s.total += v) : v
      return k6SeriesNames(s.name, s.type, this.trendStats).map((name, i) => ({
        labels: { __name__: name, testid: this.testid, ...s.tags },
        samples: [{ value: s.type === 'trend' ? value * (1 + i * 0.5) : value, timestamp }],
      }))
    })
    const res = await pushTimeseries(timeseries, {
      url: `${this.url}/api/v1/write`,
      // Node's own fetch (the package otherwise wants node-fetch), bounded in time.
      fetch: ((url: string, init: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(5000) })) as never,
      headers: { 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0', 'User-Agent': 'cachelab-test (k6 output simulation)' },
    })
    if (res.status !== 204 && res.status !== 200) throw new Error(`remote write refused: ${res.status} ${res.statusText} ${res.errorMessage ?? ''}`)
  }
}
