import { readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { formatSummary, summarizeProfile, type ProfileSummary } from './cpuprofile-summary.js'
import { createFixture } from './lib/fixture.js'
import { load } from './lib/load.js'
import { onInterrupt } from './lib/processes.js'
import { Admin, startBare, startService } from './lib/service.js'
import { shuffled } from './lib/stats.js'

// Profiles the hit path: the service (default strategies) and the bare route each run under the
// same load with --cpu-prof; prints CPU µs per request by origin side by side, then the service's
// top functions by self time. The .cpuprofile files stay in --out (open them in Chrome DevTools).
//   npm run bench:profile -- [--duration 8] [--connections 32] [--metrics true|false] [--out reports/bench/profile]
// With --modes family=mode[,family=mode...] (e.g. penetration=bloom) the pair is the service with
// those strategy modes against the same service with the baseline modes, instead of ours vs bare.

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '32' },
    keys: { type: 'string', default: '1000' },
    metrics: { type: 'string', default: 'true' },
    out: { type: 'string', default: 'reports/bench/profile' },
    top: { type: 'string', default: '30' },
    modes: { type: 'string' },
  },
})
const durationSec = Number(values.duration)
const keys = Number(values.keys)
const outDir = resolve(values.out)
const modes = values.modes ? Object.fromEntries(values.modes.split(',').map((fm) => { const [f, m] = fm.split('='); return [f!, { mode: m! }] })) : undefined
const pair = modes ? (['modes', 'ours'] as const) : (['ours', 'bare'] as const)
await rm(outDir, { recursive: true, force: true })

const fx = await createFixture({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', mysqlUrl: process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/cachelab_bench', seedCount: keys })
onInterrupt(() => fx.cleanup())
const prefix = `${fx.prefix}hit:`
const paths = shuffled(Array.from({ length: keys }, (_, i) => `/orders/${i + 1}`))
try {
  const results: { name: string; summary: ProfileSummary; allFunctions: Map<string, number>; requests: number }[] = []
  for (const name of pair) {
    const dir = join(outDir, name)
    const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`]
    const server = name === 'bare' ? await startBare(fx, name, prefix, flags) : await startService(fx, name, prefix, { METRICS_ENABLED: values.metrics! }, flags)
    if (name !== 'bare') {
      const admin = new Admin(server.url, fx.adminToken)
      // Both service runs share the prefix (and the strategy state stored under it): set it each time.
      await admin.call('DELETE', '/admin/strategies')
      if (name === 'modes') {
        await admin.call('PUT', '/admin/strategies', modes)
        const deadline = Date.now() + 30_000
        for (;;) {
          const state = await admin.call<{ strategies: Record<string, { mode: string }> }>('GET', '/admin/strategies')
          if (Object.entries(modes!).every(([f, m]) => state.strategies[f]?.mode === m.mode)) break
          if (Date.now() > deadline) throw new Error(`modes ${values.modes} not active 30 s after they were set`)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      await admin.rewarm(keys)
    }
    await load([server.url], { connections: 8, durationSec: 1, paths }) // JIT warm-up, outside the window
    const from = Date.now() - server.spawnedAt
    const res = await load([server.url], { connections: Number(values.connections), durationSec, paths })
    const to = Date.now() - server.spawnedAt
    await server.stop()
    // tsx runs its loader in a worker thread with a profile of its own; the main thread's is thread 0.
    const file = (await readdir(dir)).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    if (!file) throw new Error(`no main-thread profile written in ${dir}`)
    const window = { fromMs: from, toMs: to }
    const all = await summarizeProfile(join(dir, file), { ...window, top: 100_000 })
    results.push({
      name,
      summary: await summarizeProfile(join(dir, file), { ...window, top: Number(values.top) }),
      allFunctions: new Map(all.functions.map((f) => [f.name, f.selfMs])),
      requests: res.ok + res.non2xx,
    })
    console.log(`${name}: ${res.ok} requests in ${durationSec} s (${res.rps.toFixed(0)}/s), profile ${join(dir, file)}`)
  }
  // "ours" below is the first of the pair (the modes, with --modes), "bare" the second.
  const [ours, bare] = results as [(typeof results)[0], (typeof results)[0]]
  console.log(`\ncolumns: ${pair[0]}${modes ? ` (${values.modes})` : ''} vs ${pair[1]}${modes ? ' (baseline modes)' : ''}`)
  const perReq = (r: (typeof results)[0], origin: string) => ((r.summary.origins.find((o) => o.name === origin)?.selfMs ?? 0) * 1000) / r.requests
  console.log(`\nCPU µs per request (busy time / requests): ours ${((ours.summary.busyMs * 1000) / ours.requests).toFixed(1)}, bare ${((bare.summary.busyMs * 1000) / bare.requests).toFixed(1)}`)
  console.log('\nself time per request by origin (µs):\n    ours    bare   diff  origin')
  const origins = [...new Set([...ours.summary.origins, ...bare.summary.origins].map((o) => o.name))]
  const rows = origins.map((o) => ({ o, a: perReq(ours, o), b: perReq(bare, o) })).sort((x, y) => y.a - y.b - (x.a - x.b))
  for (const { o, a, b } of rows) console.log(`${a.toFixed(1).padStart(8)}${b.toFixed(1).padStart(8)}${(a - b).toFixed(1).padStart(7)}  ${o}`)
  const perReqFn = (r: (typeof results)[0], fn: string) => ((r.allFunctions.get(fn) ?? 0) * 1000) / r.requests
  const fns = [...new Set([...ours.allFunctions.keys(), ...bare.allFunctions.keys()])]
  const fnRows = fns.map((f) => ({ f, a: perReqFn(ours, f), b: perReqFn(bare, f) })).sort((x, y) => y.a - y.b - (x.a - x.b))
  console.log(`\nfunctions costing ours the most more than bare (µs per request):\n    ours    bare   diff  function`)
  for (const { f, a, b } of fnRows.slice(0, Number(values.top))) console.log(`${a.toFixed(2).padStart(8)}${b.toFixed(2).padStart(8)}${(a - b).toFixed(2).padStart(7)}  ${f}`)
  console.log(`\nours (${values.metrics === 'false' ? 'METRICS_ENABLED=false' : 'metrics on'}):\n${formatSummary(ours.summary)}`)
} finally {
  await fx.cleanup()
}
