import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { READ_PATH_FAMILIES } from '../../bench/sections/strategies.js'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import { createSandbox, type Sandbox } from '../helpers/app.js'
import { runBenchScript } from './run-bench-script.js'

// The bench harness end to end with tiny durations (`npm run bench` with every section), in a
// database of its own. It checks only that the report is well formed, never a figure's value:
// speed is not something a test can assert on a shared machine.
let sandbox: Sandbox
let dir: string

beforeAll(async () => {
  sandbox = await createSandbox()
  dir = await mkdtemp(join(tmpdir(), 'cachelab-bench-'))
})
afterAll(async () => {
  await sandbox?.drop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

interface Summary {
  median: number
  min: number
  max: number
  values: number[]
}
interface Figure {
  section: string
  id: string
  name: string
  unit: string
  summary: Summary
  goal?: { op: string; value: number }
  met?: boolean
  cpu?: Summary
}

function wellFormed(s: Summary, n: number): void {
  expect(s.values).toHaveLength(n)
  for (const v of s.values) expect(Number.isFinite(v) && v >= 0).toBe(true)
  expect(s.min).toBeLessThanOrEqual(s.median)
  expect(s.median).toBeLessThanOrEqual(s.max)
}

// A generous limit, never an assertion: on a busy shared machine starting its processes is slow.
it('npm run bench runs every section and writes well-formed ratios', { timeout: 600_000 }, async () => {
  const out = join(dir, 'bench.json')
  const args = ['--rounds', '1', '--strategy-rounds', '1', '--duration', '0.3', '--slices', '1', '--keys', '20', '--miss-pool', '60', '--connections', '4', '--concurrency', '4', '--expiries', '1', '--burst', '3', '--db-latency', '5', '--out', out]
  const { code, output } = await runBenchScript('bench/run.ts', args, sandbox)
  expect(code, output).toBe(0)
  expect(output).toMatch(/section\s+figure\s+median\s+spread/)

  const report = JSON.parse(await readFile(out, 'utf8')) as { figures: Figure[]; settings: { rounds: number; strategyRounds: number; expiries: number } }
  const ids = report.figures.map((f) => f.id)
  const strategyIds = READ_PATH_FAMILIES.flatMap((family) => MODES[family].slice(1).map((m) => `strategy-${family}-${m.name}`))
  const stampedeIds = [...MODES.breakdown.map((m) => `stampede-ours-${m.name}`), 'stampede-bentocache']
  expect(ids.sort()).toEqual(['hit-efficiency', 'metrics-cost', 'scaling-2-processes', 'peer-hit', 'peer-miss', ...strategyIds, ...stampedeIds].sort())
  for (const f of report.figures) {
    const rounds = f.section === 'strategies' ? report.settings.strategyRounds : report.settings.rounds
    wellFormed(f.summary, f.unit === 'ratio' ? rounds : report.settings.expiries)
    if (f.cpu) wellFormed(f.cpu, rounds)
    if (f.goal) expect(typeof f.met).toBe('boolean')
  }
})
