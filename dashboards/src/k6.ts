import { type Section, RATE_INTERVAL, dashboard, q, sumRate, timeseries } from './grafana.js'
import { cache, chaosAnnotation, database, strategyAnnotation } from './overview.js'

// k6 pushes its metrics through Prometheus remote write (the k6 service in docker-compose.yml):
// counters as k6_<name>_total, rates as k6_<name>_rate, gauges as k6_<name>, and trends as gauges
// k6_<name>_<stat> in seconds, one per K6_PROMETHEUS_RW_TREND_STATS entry (p(99) -> _p99). Every
// series carries the run's tags: `testid` (set per run), `scenario`, `method`, `status`,
// `expected_response`, `name`...
const RUN = 'testid=~"$testid"'

/** The trend stats docker-compose.yml asks k6 for (K6_PROMETHEUS_RW_TREND_STATS). */
export const K6_TREND_STATS = ['p50', 'p95', 'p99', 'avg', 'max'] as const

export const load: Section = {
  title: 'Load (k6)',
  panels: [
    timeseries(
      'k6 requests/s by scenario and status',
      'What k6 sent, as k6 counted it (client side). Compare with the service panels below: the same timeline.',
      [q(sumRate(`k6_http_reqs_total{${RUN}}`, ['scenario', 'status']), '{{scenario}} {{status}}')],
      { unit: 'reqps', min: 0 },
    ),
    timeseries(
      'k6 request latency p50 / p95 / p99',
      'Client-side latency (network and queueing included) per k6 scenario, from the trend stats k6 pushes. Percentiles of sub-series cannot be merged: the max over them is an upper bound.',
      [
        q(`max by (scenario) (k6_http_req_duration_p50{${RUN}})`, 'p50 {{scenario}}'),
        q(`max by (scenario) (k6_http_req_duration_p95{${RUN}})`, 'p95 {{scenario}}'),
        q(`max by (scenario) (k6_http_req_duration_p99{${RUN}})`, 'p99 {{scenario}}'),
      ],
      { unit: 's', min: 0 },
    ),
    timeseries(
      'k6 responses/s: expected vs unexpected',
      'expected_response="false" counts responses a script did not expect (by default any 4xx/5xx unless the script declared them expected).',
      [q(sumRate(`k6_http_reqs_total{${RUN}}`, ['expected_response']), 'expected={{expected_response}}')],
      { unit: 'reqps', min: 0, width: 8 },
    ),
    timeseries(
      'k6 virtual users',
      'VUs running. With arrival-rate executors k6 adds VUs up to maxVUs to keep the rate; reaching it means the service is too slow for the rate.',
      [q(`sum(k6_vus{${RUN}})`, 'VUs'), q(`sum(k6_vus_max{${RUN}})`, 'max VUs')],
      { unit: 'short', min: 0, width: 8 },
    ),
    timeseries(
      'k6 iterations/s and dropped iterations/s',
      'Dropped iterations: arrivals k6 could not start because every VU was busy; the rate asked for was not delivered. The dropped line appears only when k6 dropped some.',
      [q(`sum(rate(k6_iterations_total{${RUN}}[${RATE_INTERVAL}]))`, 'iterations'), q(`sum(rate(k6_dropped_iterations_total{${RUN}}[${RATE_INTERVAL}]))`, 'dropped')],
      { unit: 'ops', min: 0, width: 8 },
    ),
    timeseries(
      'k6 checks passed (ratio) by check',
      'Share of each check() that passed since the run started.',
      [q(`min by (check) (k6_checks_rate{${RUN}})`, '{{check}}')],
      { unit: 'percentunit', min: 0, max: 1, width: 24 },
    ),
  ],
}

export const k6 = dashboard({
  uid: 'cachelab-k6',
  title: 'cachelab — k6 load',
  description: 'k6 runs (pushed by Prometheus remote write) next to what the order service and MySQL did meanwhile.',
  tags: ['cachelab', 'k6'],
  sections: [load, cache, database],
  annotations: [chaosAnnotation, strategyAnnotation],
  variables: [{ name: 'testid', label: 'k6 test id', metric: 'k6_vus', labelName: 'testid', allValue: '.*' }],
  from: 'now-30m',
})
