import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createWorkload } from '../../scenarios/lib/workload.js'
import { createPools, runLoad, type LoadCounters } from '../../scenarios/runner/load.js'
import type { Arrival } from '../../scenarios/runner/schemas.js'
import type { RequestRecord } from '../../scenarios/runner/types.js'

// A stand-in HTTP server (the load generator's own behaviour is under test, not the service):
// answers like GET /orders/:id after `delayMs`, and tracks how many requests it holds at once.
let server: Server
let url: string
let delayMs = 0
let open = 0
let maxOpen = 0
beforeAll(async () => {
  server = createServer((req, res) => {
    open++
    maxOpen = Math.max(maxOpen, open)
    setTimeout(() => {
      open--
      const id = req.url!.split('/').pop()
      res.writeHead(id === '13' ? 404 : 200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ id, version: 3 }))
    }, delayMs)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

async function load(arrival: Arrival, durationMs: number) {
  maxOpen = 0
  const pools = createPools([url], arrival, 5000)
  const counters: LoadCounters = { sent: 0, completed: 0, errors: 0, dropped: 0, inFlight: 0 }
  const records: RequestRecord[] = []
  const w = createWorkload({ mix: [{ kind: 'read', weight: 1, keys: { distribution: 'uniform', min: 1, max: 20 } }] }, { seed: 1, seededOrders: 20 })
  const started = performance.now()
  await runLoad({ pools, next: w.next, arrival, durationMs, timeoutMs: 5000, signal: new AbortController().signal, clockZero: started, counters, onRecord: (r) => records.push(r) })
  const elapsed = performance.now() - started
  await Promise.all(pools.map((p) => p.close()))
  return { counters, records, elapsed }
}

describe('load generator', () => {
  it('open model: requests start on schedule whatever the latency; beyond maxInFlight they are dropped, not delayed', async () => {
    delayMs = 300
    const { counters, records } = await load({ model: 'open', ratePerSec: 200, maxInFlight: 10, connections: 10 }, 1000)
    // 200/s for 1 s is 200 requests due; 10 fit in flight at a time and each takes 300 ms.
    expect(counters.sent + counters.dropped).toBe(200)
    expect(counters.dropped).toBeGreaterThan(counters.sent)
    expect(maxOpen).toBeLessThanOrEqual(10)
    expect(records).toHaveLength(counters.sent)
  })

  it('open model records every answer: status, id, the version in the body, start/end on the phase clock', async () => {
    delayMs = 0
    const { counters, records } = await load({ model: 'open', ratePerSec: 100, maxInFlight: 100 }, 500)
    expect(counters.dropped).toBe(0)
    expect(records.length).toBe(counters.sent)
    for (const r of records) {
      expect(r.kind).toBe('read')
      expect(r.status).toBe(r.id === '13' ? 404 : 200)
      expect(r.version).toBe(r.id === '13' ? undefined : 3)
      expect(r.end).toBeGreaterThanOrEqual(r.start)
      expect(r.latencyMs).toBeCloseTo(r.end - r.start, 6)
    }
  })

  it('closed model: never more than `concurrency` requests outstanding, each user sending its next on an answer', async () => {
    delayMs = 20
    const { counters, records } = await load({ model: 'closed', concurrency: 4 }, 500)
    expect(maxOpen).toBeLessThanOrEqual(4)
    expect(counters.dropped).toBe(0)
    expect(records.length).toBe(counters.sent)
    expect(records.length).toBeGreaterThan(4)
  })

  it('sends a mix entry pinned to a replica only there, and reads an acknowledged create back at once on the replica named', async () => {
    // Two stand-in replicas that log what they receive; POST /orders answers 201 with a new id.
    const seen: { replica: number; method: string; url: string; at: number }[] = []
    let nextId = 100
    const replicas = await Promise.all(
      [0, 1].map(async (replica) => {
        const s = createServer((req, res) => {
          seen.push({ replica, method: req.method!, url: req.url!, at: performance.now() })
          req.resume()
          req.on('end', () => {
            res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' })
            res.end(JSON.stringify({ id: req.method === 'POST' ? String(nextId++) : req.url!.split('/').pop(), version: 1 }))
          })
        })
        await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
        return s
      }),
    )
    const urls = replicas.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`)
    const arrival: Arrival = { model: 'open', ratePerSec: 200, maxInFlight: 100, connections: 4 }
    const pools = createPools(urls, arrival, 5000)
    const counters: LoadCounters = { sent: 0, completed: 0, errors: 0, dropped: 0, inFlight: 0 }
    const records: RequestRecord[] = []
    const w = createWorkload(
      {
        mix: [
          { kind: 'read', weight: 3, keys: { distribution: 'uniform', min: 1, max: 50 } },
          { kind: 'read', weight: 1, tag: 'pinned', replica: 1, keys: { distribution: 'uniform', min: 1, max: 50 } },
          { kind: 'create', weight: 1, tag: 'made', replica: 1, readBack: { replica: 0, tag: 'made-read' } },
        ],
      },
      { seed: 3, seededOrders: 50 },
    )
    await runLoad({ pools, next: w.next, arrival, durationMs: 500, timeoutMs: 5000, signal: new AbortController().signal, clockZero: performance.now(), counters, onRecord: (r) => records.push(r) })
    await Promise.all(pools.map((p) => p.close()))
    await Promise.all(replicas.map((s) => new Promise<void>((r) => s.close(() => r()))))

    const byTag = (t: string) => records.filter((r) => r.tag === t)
    // Unpinned reads use both replicas; pinned ones and creates only replica 1.
    expect(new Set(byTag('read').map((r) => r.replica))).toEqual(new Set([0, 1]))
    expect(byTag('pinned').length).toBeGreaterThan(0)
    expect(byTag('pinned').every((r) => r.replica === 1)).toBe(true)
    const creates = byTag('made')
    expect(creates.length).toBeGreaterThan(0)
    expect(creates.every((r) => r.replica === 1 && r.status === 201)).toBe(true)
    expect(seen.filter((s) => s.method === 'POST').every((s) => s.replica === 1)).toBe(true)
    // One read-back per acknowledged create: of its id, on replica 0, sent once the create was answered.
    const readBacks = byTag('made-read')
    expect(readBacks.map((r) => r.id).sort()).toEqual(creates.map((r) => r.id).sort())
    for (const rb of readBacks) {
      const create = creates.find((c) => c.id === rb.id)!
      expect(rb).toMatchObject({ kind: 'read', replica: 0, status: 200 })
      expect(rb.start).toBeGreaterThanOrEqual(create.end)
      expect(seen.some((s) => s.replica === 0 && s.method === 'GET' && s.url === `/orders/${rb.id}`)).toBe(true)
    }
    // Read-backs come on top of the schedule and are counted like any request.
    expect(records.length).toBe(counters.sent)
    expect(counters.sent + counters.dropped).toBe(100 + readBacks.length)
  })

  it('counts an unreachable server as errors (status 0), without throwing', async () => {
    const pools = createPools(['http://127.0.0.1:1'], { model: 'closed', concurrency: 1 }, 1000)
    const counters: LoadCounters = { sent: 0, completed: 0, errors: 0, dropped: 0, inFlight: 0 }
    const records: RequestRecord[] = []
    const w = createWorkload({ mix: [{ kind: 'read', weight: 1, keys: { distribution: 'uniform' } }] }, { seed: 1, seededOrders: 5 })
    await runLoad({ pools, next: w.next, arrival: { model: 'closed', concurrency: 1 }, durationMs: 200, timeoutMs: 1000, signal: new AbortController().signal, clockZero: performance.now(), counters, onRecord: (r) => records.push(r) })
    await pools[0]!.close()
    expect(records.length).toBeGreaterThan(0)
    expect(records.every((r) => r.status === 0 && r.error)).toBe(true)
    expect(counters.errors).toBe(records.length)
  })
})
