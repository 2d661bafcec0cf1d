import { describe, expect, it } from 'vitest'
import { betweenExpiries, expiryMoments, expiryWindowMs, percentile } from '../../scenarios/effects/breakdown.js'
import type { PhaseContext, RequestRecord } from '../../scenarios/runner/types.js'

// The breakdown scenario's figures that come from the load generator's records, not from the
// service: which expiries happened when, and which hot-key reads count as "between expiries".

const read = (start: number, end: number): RequestRecord => ({ kind: 'read', tag: 'hot', id: '1', status: 200, start, end, latencyMs: end - start, version: 1, replica: 0 })
const expireEvent = (at: number, result: object, ok = true) => ({ at, what: 'action expire-key {"id":"1"}', ok, detail: JSON.stringify(result) })

describe('breakdown scenario effects', () => {
  it('percentile: nearest rank of sorted values, null when there are none', () => {
    const values = Array.from({ length: 200 }, (_, i) => i + 1)
    expect(percentile(values, 99)).toBe(198)
    expect(percentile(values, 50)).toBe(100)
    expect(percentile([7], 99)).toBe(7)
    expect(percentile([], 99)).toBeNull()
  })

  it('expiry moments: the instant each expire-key action reports, for the ones that expired an entry', () => {
    const startedAt = 1_000_000
    const events: PhaseContext['events'] = [
      expireEvent(2.5, { id: '1', deleted: 0, logicallyExpired: 1, expiredAt: startedAt + 2700 }),
      // Sent at 0.5 s but served by a busy replica 300 ms later: the action's own instant counts.
      expireEvent(0.5, { id: '1', deleted: 1, logicallyExpired: 0, expiredAt: startedAt + 800 }),
      // The key was not cached (still being reloaded): no expiry.
      expireEvent(1.5, { id: '1', deleted: 0, logicallyExpired: 0, expiredAt: startedAt + 1500 }),
      { at: 3, what: 'note', ok: true, detail: 'something' },
      { at: 3.2, what: 'fault db-latency on', ok: true },
    ]
    expect(expiryMoments(events, startedAt)).toEqual([800, 2700])
  })

  it('expiry window: half the shortest gap between the defined expire-key moments', () => {
    const phase = {
      name: 'mutex',
      workload: { mix: [], arrival: { model: 'closed', concurrency: 1 }, durationSeconds: 4, warmupSeconds: 0, settleSeconds: 0, sampleIntervalMs: 500, requestTimeoutMs: 1000 },
      events: [
        { at: '12.5%', action: 'expire-key', params: { id: '1' } },
        { at: 2, action: 'expire-key', params: { id: '1' } },
        { at: '87.5%', action: 'expire-key', params: { id: '1' } },
        { at: 2.1, fault: 'db-latency' },
      ],
    } as unknown as PhaseContext['phase']
    // Moments 0.5, 2 and 3.5 s: gaps of 1.5 s; the fault does not count.
    expect(expiryWindowMs(phase)).toBe(750)
  })

  it('between expiries: every read that did not end within the window after an expiry, however long', () => {
    const reads = {
      before: read(100, 900),
      inside: read(1200, 1300),
      // In flight at the expiry, slowed by the reload: ends inside the window.
      straddling: read(800, 1450),
      afterWindow: read(1600, 1700),
      // Started in the window but ended after it: long, and not left out for being long.
      longAfter: read(1100, 2100),
      endsAtWindowEnd: read(1400, 1500),
    }
    const kept = betweenExpiries(Object.values(reads), [1000], 500)
    expect(kept).toEqual([reads.before, reads.afterWindow, reads.longAfter, reads.endsAtWindowEnd])
    expect(betweenExpiries(Object.values(reads), [], 500)).toHaveLength(6)
  })
})
