// Quick in-process measurement of the breakdown modes (the `breakdown` scenario measures them across real processes):
// two app instances (replicas) in one sandbox, 100 ms added to every MySQL select, one hot key
// with a 1 s TTL (logical TTL for logical-expiry), CONCURRENCY requests kept in flight for
// SECONDS per mode. Prints the hot key's DB loads per second (a cycle is the TTL plus a reload, so
// about one expiry a second) and client latency, from the service's own counters.
//   npx tsx bench/breakdown-burst.ts [concurrency=200] [seconds=6]
import { auth, build, createSandbox } from '../test/helpers/app.js'
import { metric, snapshot } from '../test/helpers/metrics.js'
import { applyStrategies, setFault } from '../test/helpers/strategy-state.js'

const CONCURRENCY = Number(process.argv[2] ?? 200)
const SECONDS = Number(process.argv[3] ?? 6)
const TTL_SECONDS = 1
const HOT_ID = '42'

const sandbox = await createSandbox()
await sandbox.seed(100)
// In one process, 200 requests in flight keep the event loop busy enough for replies to outlive
// the default 250 ms Redis command timeout (a read then falls back to MySQL, unprotected). A
// longer timeout keeps this a measurement of the breakdown modes, not of event-loop saturation.
const replicas = [await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: 5000 }), await build(sandbox, { REDIS_COMMAND_TIMEOUT_MS: 5000 })]
try {
  await setFault(replicas, 'db-latency', { ms: 100, operations: ['select'] })
  const rows: Record<string, string | number>[] = []
  for (const mode of ['none', 'single-flight', 'mutex', 'logical-expiry', 'early-refresh']) {
    await applyStrategies(replicas, { breakdown: { mode, params: { logicalTtlSeconds: TTL_SECONDS } }, avalanche: { params: { ttlSeconds: TTL_SECONDS } } })
    await replicas[0]!.inject({ method: 'POST', url: '/admin/cache/flush', headers: auth })
    await replicas[0]!.inject(`/orders/${HOT_ID}`)
    const counters = {
      selects: () => metric(replicas, 'cachelab_db_queries_total', { operation: 'select' }),
      misses: () => metric(replicas, 'cachelab_cache_lookups_total', { outcome: 'miss' }),
      stale: () => metric(replicas, 'cachelab_cache_lookups_total', { outcome: 'stale' }),
      cacheErrors: () => metric(replicas, 'cachelab_cache_lookups_total', { outcome: 'error' }),
      lockTimeouts: () => metric(replicas, 'cachelab_lock_wait_timeouts_total'),
    }
    const figures = await snapshot(counters)
    const latencies: number[] = []
    let errors = 0
    const started = performance.now()
    const deadline = started + SECONDS * 1000
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, worker) => {
        const app = replicas[worker % replicas.length]!
        while (performance.now() < deadline) {
          const t = performance.now()
          const res = await app.inject(`/orders/${HOT_ID}`)
          latencies.push(performance.now() - t)
          if (res.statusCode !== 200) errors++
        }
      }),
    )
    const elapsed = (performance.now() - started) / 1000
    // Let background rebuilds land before reading the counters.
    while ((await metric(replicas, 'cachelab_db_queries_in_flight')) > 0) await new Promise((r) => setTimeout(r, 20))
    latencies.sort((x, y) => x - y)
    const d = await figures.delta()
    rows.push({
      mode,
      requests: latencies.length,
      errors,
      hotKeyDbLoads: d.selects,
      dbLoadsPerSecond: Number((d.selects / elapsed).toFixed(2)),
      misses: d.misses,
      stale: d.stale,
      cacheErrors: d.cacheErrors,
      lockTimeouts: d.lockTimeouts,
      p50Ms: Number(latencies[Math.floor(latencies.length * 0.5)]!.toFixed(1)),
      p99Ms: Number(latencies[Math.floor(latencies.length * 0.99)]!.toFixed(1)),
      maxMs: Number(latencies[latencies.length - 1]!.toFixed(1)),
    })
  }
  console.table(rows)
} finally {
  for (const app of replicas) await app.close()
  await sandbox.drop()
}
