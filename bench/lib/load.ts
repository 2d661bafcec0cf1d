import autocannon from 'autocannon'

export interface LoadOptions {
  /** Total concurrent connections, split evenly over the targets. */
  connections: number
  durationSec: number
  /** Request paths, cycled by every connection (the key mix). */
  paths: string[]
}

export interface LoadResult {
  /** 2xx responses per second, over all targets. */
  rps: number
  /** Seconds the load ran (the longest target's). */
  elapsedSec: number
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  latencyP50Ms: number
  latencyP99Ms: number
}

/**
 * Closed-loop HTTP load from this process with autocannon's programmatic API. Several targets
 * (replicas) are loaded at once, each by its share of the connections; every request buffer is
 * built once, so the generator's cost per request is the same whatever is measured.
 */
export async function load(targets: string[], opts: LoadOptions): Promise<LoadResult> {
  const per = Math.max(1, Math.floor(opts.connections / targets.length))
  const results = await Promise.all(
    targets.map((url) => {
      // Connection i cycles paths i, i+per, i+2·per...: together the connections still cycle the
      // whole key mix, but each request buffer is built once per load. Given the whole list,
      // autocannon deep-copies and rebuilds all of it for every connection (32 × 1,000 buffers,
      // ~0.5 s with the event loop blocked) after its clock started: dead time counted in the
      // elapsed time, which inflated a 1 s measurement to ~1.5 s.
      const shares = Array.from({ length: per }, (_, i) => opts.paths.filter((_, k) => k % per === i).map((path) => ({ method: 'GET' as const, path })))
      let next = 0
      const setupClient = (client: { setRequests(r: object[]): void }) => {
        const mine = shares[next++ % per]!
        client.setRequests(mine.length > 0 ? mine : [{ method: 'GET', path: opts.paths[0]! }])
      }
      return new Promise<autocannon.Result>((resolve, reject) => {
        // autocannon stops only on its sampling tick (1 s by default): a fine tick keeps short runs short.
        autocannon(
          { url, connections: per, pipelining: 1, duration: opts.durationSec, sampleInt: 50, requests: [{ method: 'GET', path: opts.paths[0]! }], setupClient: setupClient as never, timeout: 10 },
          (err, res) => (err ? reject(err) : resolve(res)),
        )
      })
    }),
  )
  let ok = 0
  let non2xx = 0
  let errors = 0
  let timeouts = 0
  let elapsedMs = 0
  for (const r of results) {
    ok += r['2xx']
    non2xx += r.non2xx
    errors += r.errors
    timeouts += r.timeouts
    elapsedMs = Math.max(elapsedMs, new Date(r.finish).getTime() - new Date(r.start).getTime())
  }
  return {
    rps: ok / (elapsedMs / 1000),
    elapsedSec: elapsedMs / 1000,
    ok,
    non2xx,
    errors,
    timeouts,
    latencyP50Ms: median(results.map((r) => r.latency.p50)),
    latencyP99Ms: Math.max(...results.map((r) => r.latency.p99)),
  }
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b)
  return s[s.length >> 1]!
}
