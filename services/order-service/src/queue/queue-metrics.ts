import { Gauge } from 'prom-client'
import type { Metrics } from '../metrics.js'
import type { OrderQueue, QueueStats } from './order-queue.js'

/**
 * Queue gauges, read from Redis when /metrics is scraped (the queue is shared state: the service
 * and every worker report the same figures). One read serves all gauges of a scrape; when Redis
 * does not answer, the gauges keep their last values.
 */
export function registerQueueGauges(metrics: Metrics, queue: OrderQueue): void {
  let cached: { at: number; stats: Promise<QueueStats | null> } | undefined
  const stats = (): Promise<QueueStats | null> => {
    const now = Date.now()
    if (!cached || now - cached.at > 200) cached = { at: now, stats: queue.stats().catch(() => null) }
    return cached.stats
  }
  const gauge = (name: string, help: string, pick: (s: QueueStats) => number) => {
    if (metrics.registry.getSingleMetric(name)) return
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      async collect() {
        const s = await stats()
        if (s) this.set(pick(s))
      },
    })
  }
  gauge('cachelab_queue_depth', 'Accepted orders not yet written to MySQL (waiting + in flight)', (s) => s.depth)
  gauge('cachelab_queue_in_flight', 'Orders delivered to a worker and not yet acknowledged', (s) => s.inFlight)
  gauge('cachelab_queue_worker_lag', 'Orders not yet delivered to any worker (the consumer group lag)', (s) => s.waiting)
  gauge('cachelab_queue_oldest_age_seconds', 'Age of the oldest order not yet written (0 when empty)', (s) => s.oldestAgeSeconds)
  gauge('cachelab_queue_dead_letters', 'Messages in the dead-letter queue', (s) => s.deadLetters)
}

/** POST /orders in queue mode, by result; created with zeros so the series exist before the first order. */
export function enqueuedCounter(metrics: Metrics) {
  const exists = metrics.registry.getSingleMetric('cachelab_queue_enqueued_total') !== undefined
  const counter = metrics.counter('cachelab_queue_enqueued_total', 'POST /orders in queue mode, by result: accepted, full (refused with 503), error (Redis failed)', ['result'])
  if (!exists) for (const result of ['accepted', 'full', 'error']) counter.inc({ result }, 0)
  return counter
}
