import { describe, expect, it } from 'vitest'
import { staleReads } from '../../scenarios/effects/consistency.js'
import type { RequestRecord } from '../../scenarios/runner/types.js'

// The consistency scenario's stale-read rule, on hand-made records: a read is stale when some
// write of a newer version to its order was acknowledged before the read started.
const write = (id: string, start: number, end: number, version: number, status = 200): RequestRecord => ({ kind: 'update', tag: 'update', id, status, start, end, latencyMs: end - start, version: status === 200 ? version : undefined, replica: 0 })
const read = (id: string, start: number, end: number, version: number | undefined, status = 200): RequestRecord => ({ kind: 'read', tag: 'read', id, status, start, end, latencyMs: end - start, version, replica: 0 })

describe('consistency scenario: stale reads from the records', () => {
  it('counts a read that started after a newer version was acknowledged, and how long after', () => {
    const r = staleReads([
      write('1', 0, 10, 2),
      read('1', 5, 8, 1), // started before the ack: not stale
      read('1', 12, 14, 1), // 2 ms after the ack of version 2
      read('1', 40, 42, 1), // 30 ms after
      read('1', 50, 52, 2), // current: not stale
    ])
    expect(r).toMatchObject({ writes: 1, reads: 4, stale: 2, maxStalenessMs: 30, lastWriteAckMs: 10 })
  })

  it('measures staleness from the first acknowledgement of any newer version, whatever the ack order', () => {
    // Version 3 was acknowledged before version 2 (concurrent writers): a read of 1 at 30 is 25 ms behind version 3.
    const r = staleReads([write('1', 0, 20, 2), write('1', 1, 5, 3), read('1', 30, 31, 1), read('1', 31, 32, 2)])
    expect(r).toMatchObject({ stale: 2, maxStalenessMs: 26 })
  })

  it('keeps orders apart and ignores failed writes and unanswered reads', () => {
    const r = staleReads([
      write('1', 0, 10, 5),
      write('2', 0, 10, 9, 503), // not acknowledged: cannot make anything stale
      read('2', 20, 21, 1),
      read('1', 20, 21, undefined, 0),
      read('3', 20, 21, 1),
    ])
    expect(r).toMatchObject({ writes: 1, reads: 2, stale: 0, maxStalenessMs: 0 })
  })
})
