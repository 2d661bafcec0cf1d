import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { threadCpuMs } from './lib/cpu.js'
import { createFixture } from './lib/fixture.js'
import { load } from './lib/load.js'
import { APP_BARE_ENTRY, onInterrupt, startServer, type ServerProcess } from './lib/processes.js'
import { Admin, serviceEnv, startBare, startService } from './lib/service.js'
import { shuffled } from './lib/stats.js'

// The hit path under Linux `perf`: every thread of both servers, native code and the kernel
// included, where `bench:profile` (V8's --cpu-prof) sees only the main thread's JavaScript stacks.
// Both servers run at once and are loaded in alternating slices (A B B A), one `perf record`
// sampling both, so a drift of the machine's speed falls on both alike. Prints CPU µs per request
// by origin side by side, then the symbols where ours spends the most more.
//   npm run bench:perf -- [--against bare|app|metrics-off|self] [--rounds 6] [--slice 2] [--connections 32] [--keys 1000] [--freq 999] [--top 30] [--call-graph]
// --against app: the other side is the service's own app with the bare handler (bench/app-bare-server.ts),
// which isolates what the order route costs from what the process is; --against metrics-off: the
// same service with METRICS_ENABLED=false (what metrics cost on a hit); --against self: a second
// process of the same service, an A/A run that shows how far two identical processes differ.
// With --call-graph the data keeps call chains: `perf report -i <out> -G -S <symbol>` shows who calls a symbol,
// and --frames a,b,... prints each pattern's inclusive time: the samples with a frame whose name
// contains it anywhere in their chain (e.g. parserOnHeadersComplete, processTicksAndRejections).
// Needs `perf` (Debian: apt-get install linux-perf) and permission to profile child processes.

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    slice: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    keys: { type: 'string', default: '1000' },
    freq: { type: 'string', default: '999' },
    top: { type: 'string', default: '30' },
    out: { type: 'string', default: 'reports/bench/perf.data' },
    'call-graph': { type: 'boolean', default: false },
    frames: { type: 'string' },
    against: { type: 'string', default: 'bare' },
  },
})
if (!['bare', 'app', 'metrics-off', 'self'].includes(values.against!)) {
  console.error(`--against is bare, app, metrics-off or self, not ${values.against}`)
  process.exit(2)
}
const rounds = Number(values.rounds)
const sliceSec = Number(values.slice)
const keys = Number(values.keys)
const freq = Number(values.freq)

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' })
} catch {
  console.error('bench:perf needs Linux perf on the PATH (Debian: apt-get install linux-perf)')
  process.exit(2)
}

const fx = await createFixture({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', mysqlUrl: process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/cachelab_bench', seedCount: keys })
const servers: ServerProcess[] = []
onInterrupt(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  await fx.cleanup()
})
const prefix = `${fx.prefix}hit:`
const paths = shuffled(Array.from({ length: keys }, (_, i) => `/orders/${i + 1}`))
const barePaths = paths.map((p) => `/bare${p}`)
// JIT code is named for perf in /tmp/perf-<pid>.map (functions only: no regexp or stub noise).
// Code space is not compacted: a moved function would keep its old address in the map, and perf
// would name samples after whatever was compiled there before.
const flags = ['--perf-basic-prof-only-functions', '--no-compact-code-space']
try {
  const ours = await startService(fx, 'ours', prefix, {}, flags)
  servers.push(ours)
  // The other side keeps the name "bare" in the tables; with --against app it is the service's app.
  const bare =
    values.against === 'app'
      ? await startServer({ name: 'bare', entry: APP_BARE_ENTRY, env: serviceEnv(fx, prefix), nodeFlags: flags })
      : values.against === 'metrics-off' || values.against === 'self'
        ? await startService(fx, 'bare', prefix, values.against === 'self' ? {} : { METRICS_ENABLED: 'false' }, flags)
        : await startBare(fx, 'bare', prefix, flags)
  servers.push(bare)
  const pathsOf = (s: ServerProcess) => (s === bare && values.against === 'app' ? barePaths : paths)
  const admin = new Admin(ours.url, fx.adminToken)
  await admin.call('DELETE', '/admin/strategies')
  await admin.rewarm(keys) // orders live 300 s by default: longer than this run
  for (const s of servers) await load([s.url], { connections: Number(values.connections), durationSec: 1, paths: pathsOf(s) }) // JIT warm-up, not recorded

  const requests = new Map<string, number>(servers.map((s) => [s.name, 0]))
  const cpuBefore = new Map(servers.map((s) => [s.name, threadCpuMs(s.pid)]))
  await mkdir(dirname(resolve(values.out!)), { recursive: true })
  const perf = spawn('perf', ['record', '-F', String(freq), ...(values['call-graph'] ? ['-g'] : []), '-p', servers.map((s) => s.pid).join(','), '-o', values.out!, '-q'], { stdio: 'inherit' })
  const perfExit = once(perf, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  await new Promise((r) => setTimeout(r, 500))
  if (perf.exitCode !== null) throw new Error(`perf record exited at once (code ${perf.exitCode}): see its message above`)
  for (let round = 0; round < rounds; round++) {
    for (const s of round % 2 === 0 ? [ours, bare, bare, ours] : [bare, ours, ours, bare]) {
      const r = await load([s.url], { connections: Number(values.connections), durationSec: sliceSec / 2, paths: pathsOf(s) })
      if (r.non2xx + r.errors > 0) throw new Error(`${s.name}: ${r.non2xx} non-2xx answers, ${r.errors} errors`)
      requests.set(s.name, requests.get(s.name)! + r.ok)
    }
    process.stdout.write(`round ${round + 1}/${rounds}\r`)
  }
  // perf names a sample by its thread: map every thread of the servers back to its process.
  const serverOfThread = new Map<string, ServerProcess>()
  for (const s of servers) for (const tid of readdirSync(`/proc/${s.pid}/task`)) serverOfThread.set(tid, s)
  perf.kill('SIGINT')
  const [code] = await perfExit
  if (code !== 0 && code !== null) throw new Error(`perf record failed (exit code ${code})`)
  const cpu = new Map(servers.map((s) => [s.name, diffCpu(cpuBefore.get(s.name)!, threadCpuMs(s.pid))]))

  const report = execFileSync('perf', ['report', '-i', values.out!, '--no-children', '--sort', 'pid,dso,sym', '-n', '-g', 'none', '-t', '\t', '--stdio'], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] })
  const usPerSample = 1e6 / freq
  const bySymbol = new Map<string, Map<string, number>>(servers.map((s) => [s.name, new Map()]))
  const byOrigin = new Map<string, Map<string, number>>(servers.map((s) => [s.name, new Map()]))
  for (const line of report.split('\n')) {
    if (line.startsWith('#') || !line.includes('\t')) continue
    const [, samples, pidCol, dso, symCol] = line.split('\t').map((f) => f.trim()) as [string, string, string, string, string]
    const server = serverOfThread.get(pidCol.slice(0, pidCol.indexOf(':')))
    if (!server) continue
    const sym = symCol.replace(/^\[.\]\s*/, '')
    const us = (Number(samples) * usPerSample) / requests.get(server.name)!
    const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + us)
    add(bySymbol.get(server.name)!, `${originOf(dso, sym).padEnd(24)} ${sym}`)
    add(byOrigin.get(server.name)!, originOf(dso, sym))
  }

  const fmt = (n: number) => n.toFixed(2).padStart(8)
  const other = { app: "the service's app with the bare handler (GET /bare/orders/:id, bench/app-bare-server.ts)", 'metrics-off': 'the same service with METRICS_ENABLED=false', self: 'a second process of the same service (an A/A run: the noise floor)', bare: 'the bare route (bench/bare-server.ts)' }[values.against!]
  console.log(`\nours: the service's GET /orders/:id; bare: ${other}`)
  console.log(`${rounds} rounds of ${sliceSec} s per server (A B B A), ${values.connections} connections, perf at ${freq} Hz`)
  for (const s of servers) {
    const c = cpu.get(s.name)!
    const n = requests.get(s.name)!
    console.log(`${s.name.padEnd(5)} ${n} requests; /proc CPU per request: main thread ${((c.main * 1000) / n).toFixed(1)} µs (user ${((c.mainUser * 1000) / n).toFixed(1)}, system ${(((c.main - c.mainUser) * 1000) / n).toFixed(1)}), other threads ${((c.other * 1000) / n).toFixed(1)} µs`)
  }
  const table = (title: string, a: Map<string, number>, b: Map<string, number>, limit: number) => {
    const keysAll = [...new Set([...a.keys(), ...b.keys()])]
    const rows = keysAll.map((k) => ({ k, a: a.get(k) ?? 0, b: b.get(k) ?? 0 })).sort((x, y) => y.a - y.b - (x.a - x.b))
    console.log(`\n${title}\n    ours    bare    diff  `)
    for (const r of rows.slice(0, limit)) console.log(`${fmt(r.a)}${fmt(r.b)}${fmt(r.a - r.b)}  ${r.k}`)
    const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0)
    if (limit === Infinity) console.log(`${fmt(total(a))}${fmt(total(b))}${fmt(total(a) - total(b))}  total (sampled)`)
  }
  table('CPU µs per request by origin (all threads, user and kernel)', byOrigin.get('ours')!, byOrigin.get('bare')!, Infinity)
  table(`symbols where ours spends the most more (µs per request)`, bySymbol.get('ours')!, bySymbol.get('bare')!, Number(values.top))
  if (values.frames && values['call-graph']) {
    const patterns = values.frames.split(',').filter(Boolean)
    const inclusive = inclusiveTime(values.out!, patterns, serverOfThread)
    const perRequest = (name: string) => new Map(patterns.map((p) => [p, ((inclusive.get(name)?.get(p) ?? 0) * usPerSample) / requests.get(name)!]))
    table('inclusive time of frames (µs per request: samples with such a frame in their chain)', perRequest('ours'), perRequest('bare'), patterns.length)
  } else if (values.frames) console.log('\n--frames needs --call-graph')
  console.log(`\nperf data: ${values.out} (perf report -i ${values.out} --sort pid,dso,sym)`)
} finally {
  await Promise.all(servers.map((s) => s.stop()))
  // perf report needs the JIT maps to name JavaScript frames: kept with --call-graph, for a later look.
  if (!values['call-graph']) await Promise.all(servers.map((s) => rm(`/tmp/perf-${s.pid}.map`, { force: true })))
  await fx.cleanup()
}

/** Per server, per pattern: the samples whose call chain has a frame containing the pattern. */
function inclusiveTime(data: string, patterns: string[], serverOfThread: Map<string, ServerProcess>): Map<string, Map<string, number>> {
  const script = execFileSync('perf', ['script', '-i', data, '-F', 'tid,ip,sym'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] })
  const out = new Map<string, Map<string, number>>()
  // A sample is a header line (its thread id) followed by indented frames, ended by a blank line.
  for (const sample of script.split('\n\n')) {
    const [header, ...frames] = sample.split('\n')
    const server = serverOfThread.get(header?.trim().split(/\s+/)[0] ?? '')
    if (!server) continue
    const counts = out.get(server.name) ?? new Map<string, number>()
    out.set(server.name, counts)
    for (const p of patterns) if (frames.some((f) => f.includes(p))) counts.set(p, (counts.get(p) ?? 0) + 1)
  }
  return out
}

/** Where a sampled symbol comes from: our sources, an npm package, Node's JavaScript, V8 or native parts. */
function originOf(dso: string, sym: string): string {
  if (dso.startsWith('[JIT]')) {
    const path = /(?:\s|^|file:\/\/)(\/\S+|node:\S+)/.exec(sym)?.[1] ?? ''
    if (path.startsWith('node:')) return 'node (JavaScript)'
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1]
    if (pkg) return `npm ${pkg}`
    if (path.includes('/services/')) return 'ours (services/)'
    if (path.includes('/bench/')) return 'bench route'
    return 'JIT (other)'
  }
  if (dso.includes('kernel')) return 'kernel'
  if (dso === 'node' || dso.endsWith('/node')) {
    if (/^Builtins_\w*Megamorphic/.test(sym)) return 'V8 megamorphic access'
    if (sym.startsWith('Builtins_')) return 'V8 builtins'
    if (/Scaveng|MarkCompact|Marking|Sweep|Evacuat|Heap::|GCTracer|ConcurrentMarking|RecordWrite/.test(sym)) return 'V8 GC'
    if (/compiler::|maglev|turboshaft|Compiler|Parser::Parse|Scanner/.test(sym)) return 'V8 compiler'
    if (sym.startsWith('v8::')) return 'V8 runtime'
    if (/^uv_|^uv__/.test(sym)) return 'libuv'
    if (/llhttp/.test(sym)) return 'llhttp'
    return 'node (native)'
  }
  if (/libc|libstdc|libgcc|ld-linux/.test(dso)) return 'libc/libstdc++'
  return dso
}

function diffCpu(a: ReturnType<typeof threadCpuMs>, b: ReturnType<typeof threadCpuMs>) {
  return { main: b.main - a.main, mainUser: b.mainUser - a.mainUser, other: b.other - a.other }
}
