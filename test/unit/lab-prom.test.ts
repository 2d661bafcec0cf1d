import { describe, expect, it } from 'vitest'
import { increase, parsePrometheus, sharedValueAt, valueAt, type Snapshot } from '../../scenarios/runner/prom.js'

const snap = (at: number, procs: Record<string, string>): Snapshot => ({ at, processes: new Map(Object.entries(procs).map(([url, text]) => [url, parsePrometheus(text)])) })
const proc = (start: number, inserts: number, depth: number) =>
  `process_start_time_seconds ${start}\ncachelab_db_queries_total{operation="insert"} ${inserts}\ncachelab_queue_depth ${depth}\n`

describe('lab metrics from scrapes', () => {
  it('counts a restarted process from zero even when its new counter is above the old one (start time changed)', () => {
    const a = snap(0, { service: proc(100, 0, 40), worker: proc(100, 30, 40) })
    // The worker was killed and started again; it has written 50 since its start.
    const b = snap(1000, { service: proc(100, 0, 10), worker: proc(105, 50, 10) })
    expect(increase(a, b, 'cachelab_db_queries_total{operation="insert"}')).toBe(50)
    // The same process: the difference.
    const c = snap(2000, { service: proc(100, 0, 0), worker: proc(105, 70, 0) })
    expect(increase(b, c, 'cachelab_db_queries_total{operation="insert"}')).toBe(20)
    // A process absent from the earlier scrape (it was down) counts from zero too.
    expect(increase(snap(0, { service: proc(100, 0, 0) }), c, 'cachelab_db_queries_total{operation="insert"}')).toBe(70)
  })

  it('takes a shared gauge once (the first process exposing it) where valueAt sums', () => {
    const s = snap(0, { service: proc(100, 0, 40), worker: proc(100, 0, 40) })
    expect(valueAt(s, 'cachelab_queue_depth')).toBe(80)
    expect(sharedValueAt(s, 'cachelab_queue_depth')).toBe(40)
    expect(sharedValueAt(snap(0, { other: 'x_total 1\n', worker: proc(1, 0, 7) }), 'cachelab_queue_depth')).toBe(7)
    expect(sharedValueAt(s, 'absent_metric')).toBe(0)
  })
})
