import { type Section, q, sumRate, timeseries } from '../grafana.js'

// Write peak-shaving (削峰): a burst of creates in writes mode queue. k6/peak-shaving.js sends it;
// the service accepts at the burst's pace and the order-worker writes at queueRatePerSec. Queue
// gauges are read from Redis by every process (aggregate with max). Metrics: README "Write peak-shaving".
const WORKER = 'job="order-worker"'

export const writeQueue: Section = {
  title: 'Write queue: depth, age, dead letters, worker writes',
  collapsed: true,
  panels: [
    timeseries(
      'Queue depth, not yet delivered, in flight',
      'depth: accepted orders (202) not yet written to MySQL; lag: not yet delivered to a worker; in flight: delivered, not acknowledged. It grows while the burst outpaces queueRatePerSec and drains after it; queueMaxDepth refuses new orders (503 CACHELAB_QUEUE_FULL).',
      [q('max(cachelab_queue_depth)', 'depth'), q('max(cachelab_queue_worker_lag)', 'not yet delivered'), q('max(cachelab_queue_in_flight)', 'in flight')],
      { unit: 'short', min: 0, width: 8 },
    ),
    timeseries(
      'Oldest queued order age',
      'Age of the oldest accepted order not yet written: how far MySQL is behind the acceptances. 0 when the queue is empty.',
      [q('max(cachelab_queue_oldest_age_seconds)', 'oldest')],
      { unit: 's', min: 0, width: 8 },
    ),
    timeseries(
      'Dead letters',
      'Messages in the dead-letter stream (after queueMaxAttempts deliveries), and moved there per second. Never trimmed: inspect and replay with GET/POST /admin/queue/dead-letters.',
      [q('max(cachelab_queue_dead_letters)', 'dead letters'), q(sumRate(`cachelab_queue_messages_total{${WORKER},result="dead"}`), 'moved/s')],
      { unit: 'short', min: 0, width: 8 },
    ),
    timeseries(
      'Orders enqueued/s by result',
      'POST /orders in queue mode: accepted (202, in the queue: never dropped), full (503: queueMaxDepth waiting), error (503: Redis failed, not accepted).',
      [q(sumRate('cachelab_queue_enqueued_total', ['result']), '{{result}}')],
      { unit: 'reqps', min: 0, width: 12 },
    ),
    timeseries(
      'Worker DB writes/s and the rate limit',
      'Inserts the workers sent to MySQL (the figure the shared token bucket bounds: at most 1.1 × queueRatePerSec over any second), messages by result (acked, retried, dead), and the configured limit.',
      [
        q(sumRate(`cachelab_db_queries_total{${WORKER},operation="insert"}`), 'worker inserts/s'),
        q(sumRate(`cachelab_queue_messages_total{${WORKER}}`, ['result']), 'messages {{result}}/s'),
        q(`max(cachelab_worker_rate_limit_per_second{${WORKER}})`, 'limit (queueRatePerSec)'),
      ],
      { unit: 'ops', min: 0, width: 12 },
    ),
  ],
}
