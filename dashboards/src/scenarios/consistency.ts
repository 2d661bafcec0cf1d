import { type Section, histogramQuantile, q, sumRate, timeseries } from '../grafana.js'

// Consistency (双写一致性): cache and MySQL after writes. k6/consistency.js reads and writes the
// same orders with a widened race window; the auditor counts what stayed stale. Metrics: README
// "Consistency" (run audits with POST /admin/consistency/audit or AUDIT_INTERVAL_MS).
export const consistency: Section = {
  title: 'Consistency: stale entries and delayed deletes',
  collapsed: true,
  panels: [
    timeseries(
      'Stale entries found by the auditor',
      'Cached orders older than MySQL (or a "not found" sentinel of an existing order) at the last audit, and found per second. update-then-delete leaves some under the race window; delayed-double-delete removes them after its delay; versioned refuses the old fill.',
      [q('max(cachelab_consistency_audit_last_stale_entries)', 'stale at last audit'), q(sumRate('cachelab_consistency_audit_stale_entries_total'), 'found/s'), q(sumRate('cachelab_consistency_audit_samples_total'), 'compared/s')],
      { unit: 'short', min: 0, width: 8 },
    ),
    timeseries(
      'Age of stale entries',
      'How long stale entries had been stale when found (now − the MySQL update they miss, a lower bound): the oldest at the last audit, and the p99 of all found. They stay until their TTL without a second delete.',
      [q('max(cachelab_consistency_audit_last_max_stale_age_seconds)', 'oldest at last audit'), q(histogramQuantile(0.99, 'cachelab_consistency_audit_stale_age_seconds'), 'p99 of found')],
      { unit: 's', min: 0, width: 8 },
    ),
    timeseries(
      'Delayed deletes: pending, done/s, retried/s',
      'Durable delete jobs in Redis: second deletes of delayed-double-delete (due doubleDeleteDelayMs after the commit) and retries of failed deletes. Pending is the shared queue (max over replicas). Retried: claimed again after a failure or a replica that died holding them.',
      [
        q('max(cachelab_delayed_deletes_pending)', 'pending'),
        q(sumRate('cachelab_delayed_deletes_done_total', ['kind']), 'done {{kind}}/s'),
        q(sumRate('cachelab_delayed_deletes_retried_total', ['kind']), 'retried {{kind}}/s'),
      ],
      { unit: 'short', min: 0, width: 8 },
    ),
  ],
}
