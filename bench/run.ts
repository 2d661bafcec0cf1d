import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { FAMILIES, type Family } from '../services/order-service/src/strategies/families.js'
import { MODES } from '../services/order-service/src/strategies/catalogue.js'
import { machineLoad } from './lib/cpu.js'
import { createFixture } from './lib/fixture.js'
import { onInterrupt } from './lib/processes.js'
import { formatTable, type Figure, type SectionId } from './lib/report.js'
import { shuffled } from './lib/stats.js'
import { runHttpSections } from './sections/http.js'
import { runPeerSection } from './sections/peer.js'
import { runStampedeSection } from './sections/stampede.js'
import { READ_PATH_FAMILIES, runStrategySection } from './sections/strategies.js'

const USAGE = `usage: npm run bench -- [options]

Side-by-side benchmarks of the read path; prints a table of ratios (median and spread over the
rounds) and writes JSON. Every figure compares two contenders measured back to back, in slices
alternating A B B A within each round: absolute numbers on a shared machine mean little, ratios do.

  --rounds N              rounds per comparison (default 7)
  --strategy-rounds N     rounds per strategy mode (default 5: each round switches modes twice)
  --duration S            seconds per measurement (default 1; HTTP and in-process)
  --slices N              a measurement is N slices alternating with its pair's (A B B A...; default 2)
  --process-sets N        hit, metrics, scaling: split the rounds among N sets of fresh server
                          processes (default 3): two processes of the same code differ by up to
                          ±15% for their whole life, which the rounds of one set would all share
  --connections N         HTTP connections of the load generator (default 32)
  --keys N                orders in the hit key mix (default 1000)
  --miss-pool N           distinct orders per miss measurement at most (default 20000)
  --concurrency N         in-process concurrency of the peer benchmark (default 32)
  --expiries N            hot-key expiries per contender (default 5)
  --burst N               concurrent reads per process at each expiry (default 50)
  --db-latency MS         added to every MySQL select in the expiry benchmark (default 20)
  --sections LIST         comma list of hit,metrics,scaling,strategies,peer,stampede (default all)
  --strategy-families L   families for the strategy section: read (${READ_PATH_FAMILIES.join(', ')}; default), all, or a comma list
  --strategy-modes L      only these modes of those families (comma list of mode names, e.g. bloom,logical-expiry)
  --out FILE              JSON report (default reports/bench/bench.json)

Environment: REDIS_URL (default redis://127.0.0.1:6379), BENCH_MYSQL_URL (default
mysql://root@127.0.0.1:3306/cachelab_bench; the database is created and seeded if needed). The run
uses a key prefix of its own and deletes its keys at the end.`

const ALL_SECTIONS: SectionId[] = ['hit', 'metrics', 'scaling', 'strategies', 'peer', 'stampede']

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    'strategy-rounds': { type: 'string', default: '5' },
    duration: { type: 'string', default: '1' },
    slices: { type: 'string', default: '2' },
    'process-sets': { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    keys: { type: 'string', default: '1000' },
    'miss-pool': { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    expiries: { type: 'string', default: '5' },
    burst: { type: 'string', default: '50' },
    'db-latency': { type: 'string', default: '20' },
    sections: { type: 'string', default: ALL_SECTIONS.join(',') },
    'strategy-families': { type: 'string', default: 'read' },
    'strategy-modes': { type: 'string' },
    out: { type: 'string', default: 'reports/bench/bench.json' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
})
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}

function positive(name: string, raw: string, integer = true): number {
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"\n\n${USAGE}`)
    process.exit(2)
  }
  return n
}
const sections = new Set(values.sections!.split(',').map((x) => x.trim()).filter(Boolean) as SectionId[])
for (const x of sections) {
  if (!ALL_SECTIONS.includes(x)) {
    console.error(`unknown section "${x}"; allowed: ${ALL_SECTIONS.join(', ')}`)
    process.exit(2)
  }
}
const famArg = values['strategy-families']!
const families: Family[] = famArg === 'read' ? READ_PATH_FAMILIES : famArg === 'all' ? [...FAMILIES] : (famArg.split(',').map((x) => x.trim()) as Family[])
for (const f of families) {
  if (!FAMILIES.includes(f)) {
    console.error(`unknown strategy family "${f}"; allowed: read, all, ${FAMILIES.join(', ')}`)
    process.exit(2)
  }
}
const strategyModes = values['strategy-modes']?.split(',').map((x) => x.trim())
for (const m of strategyModes ?? []) {
  if (!families.some((f) => MODES[f].slice(1).some((d) => d.name === m))) {
    console.error(`"${m}" is no non-baseline mode of ${families.join(', ')}`)
    process.exit(2)
  }
}
const settings = {
  rounds: positive('rounds', values.rounds!),
  strategyRounds: positive('strategy-rounds', values['strategy-rounds']!),
  durationSec: positive('duration', values.duration!, false),
  slices: positive('slices', values.slices!),
  processSets: positive('process-sets', values['process-sets']!),
  connections: positive('connections', values.connections!),
  keys: positive('keys', values.keys!),
  missPool: positive('miss-pool', values['miss-pool']!),
  concurrency: positive('concurrency', values.concurrency!),
  expiries: positive('expiries', values.expiries!),
  burst: positive('burst', values.burst!),
  dbLatencyMs: positive('db-latency', values['db-latency']!),
  sections: [...sections],
  strategyFamilies: families,
  ...(strategyModes ? { strategyModes } : {}),
}

const log = (msg: string) => console.log(msg)
const started = Date.now()
const loadAtStart = machineLoad()
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`
log(`bench: ${settings.rounds} rounds × ${settings.durationSec} s, machine load ${loadAtStart.loadAvg1m} on ${loadAtStart.cores} cores`)

const fx = await createFixture({
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  mysqlUrl: process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/cachelab_bench',
  seedCount: settings.keys + settings.missPool,
})
onInterrupt(() => fx.cleanup())
const figures: Figure[] = []
const details: Record<string, unknown> = {}
const paths = shuffled(Array.from({ length: settings.keys }, (_, i) => `/orders/${i + 1}`))
const http = { connections: settings.connections, durationSec: settings.durationSec, paths }
try {
  if (sections.has('hit') || sections.has('metrics') || sections.has('scaling')) {
    log(`\n[${elapsed()}] hit path: ours vs bare route, metrics on/off, 1 vs 2 processes`)
    const r = await runHttpSections(fx, { ...http, rounds: settings.rounds, slices: settings.slices, keys: settings.keys, sections, processSets: settings.processSets }, log)
    figures.push(...r.figures)
    details.http = { checks: r.checks, measurements: r.measurements }
  }
  if (sections.has('strategies')) {
    log(`\n[${elapsed()}] strategy cost on the hit path (${families.join(', ')})`)
    const r = await runStrategySection(fx, { ...http, rounds: settings.strategyRounds, keys: settings.keys, families, ...(strategyModes ? { modes: strategyModes } : {}) }, log)
    if (r.figures.length === 0 && r.skipped.length === 0) log('  the catalogue has no non-baseline mode in these families yet')
    figures.push(...r.figures)
    details.strategies = { modes: r.modes, skipped: r.skipped, measurements: r.measurements }
  }
  if (sections.has('peer')) {
    log(`\n[${elapsed()}] real peer: OrderService.get vs bentocache getOrSet (Redis tier only), in process`)
    const r = await runPeerSection(fx, { rounds: settings.rounds, durationSec: settings.durationSec, slices: settings.slices, keys: settings.keys, missPool: settings.missPool, concurrency: settings.concurrency }, log)
    figures.push(...r.figures)
    details.peer = { oursMissMode: r.oursMissMode, redisCommandsPerRead: r.redisCommandsPerRead, oursFallbacksToMysql: r.oursFallbacksToMysql, rounds: r.rounds }
  }
  if (sections.has('stampede')) {
    log(`\n[${elapsed()}] DB loads per hot-key expiry, 2 processes per contender`)
    const r = await runStampedeSection(fx, { expiries: settings.expiries, burst: settings.burst, dbLatencyMs: settings.dbLatencyMs, hotId: String(settings.keys + settings.missPool) }, log)
    figures.push(...r.figures)
    details.stampede = r.contenders
  }
} finally {
  await fx.cleanup()
}

const report = {
  startedAt: new Date(started).toISOString(),
  durationSec: Math.round((Date.now() - started) / 1000),
  machine: { node: process.version, loadAtStart, loadAtEnd: machineLoad() },
  settings,
  figures,
  details,
}
const out = resolve(values.out!)
await mkdir(dirname(out), { recursive: true })
await writeFile(out, `${JSON.stringify(report, null, 2)}\n`)
log(`\n${formatTable(figures)}\n`)
log(`ratios from one run (${report.durationSec} s; machine load ${loadAtStart.loadAvg1m} → ${report.machine.loadAtEnd.loadAvg1m} on ${loadAtStart.cores} cores); JSON: ${out}`)
