import { Histogram, Registry } from 'prom-client'
import { expect, it } from 'vitest'
import { SeriesHistogram } from '../../services/order-service/src/series-histogram.js'

const BUCKETS = [0.001, 0.01, 0.1, 1]
const OBSERVATIONS: [string, string, number][] = [
  ['/orders/:id', '200', 0.0004],
  ['/orders/:id', '200', 0.001],
  ['/orders/:id', '200', 0.05],
  ['/orders/:id', '404', 0.002],
  ['/orders/:id', '200', 3],
  ['unmatched', '404', 0.2],
]

it('exports exactly what prom-client exports for the same observations', async () => {
  const ours = new Registry()
  const theirs = new Registry()
  const series = new SeriesHistogram('http_request_duration_seconds', 'HTTP request duration', ['method', 'route', 'status_code'], BUCKETS, ours)
  const reference = new Histogram({ name: 'http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route', 'status_code'], buckets: BUCKETS, registers: [theirs] })
  for (const [route, status, seconds] of OBSERVATIONS) {
    series.labels({ method: 'GET', route, status_code: status }).observe(seconds)
    reference.observe({ method: 'GET', route, status_code: status }, seconds)
  }
  expect(await ours.metrics()).toBe(await theirs.metrics())
  expect(await ours.metrics()).toContain('http_request_duration_seconds_bucket{le="0.001",method="GET",route="/orders/:id",status_code="200"} 2')
})

it('shares a series between resolutions of the same labels, and reset zeroes it', async () => {
  const registry = new Registry()
  const h = new SeriesHistogram('h_seconds', 'h', ['route'], BUCKETS, registry)
  h.labels({ route: 'a' }).observe(0.5)
  h.labels({ route: 'a' }).observe(0.5)
  expect(await registry.metrics()).toContain('h_seconds_count{route="a"} 2')
  registry.resetMetrics()
  expect(await registry.metrics()).toContain('h_seconds_count{route="a"} 0')
})
