import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createSandbox, type Sandbox } from '../helpers/app.js'
import { runBenchScript } from './run-bench-script.js'

// `npm run bench:perf` end to end with tiny durations, both contenders (`--against bare` and
// `app`), in a database of its own. Like bench-smoke, it checks the shape of the report, never a
// figure. It needs Linux perf with permission to profile child processes; where there is none it
// is skipped and says why.
function perfUsable(): string | undefined {
  try {
    execFileSync('perf', ['record', '-q', '-o', '/dev/null', '--', 'true'], { stdio: 'ignore' })
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}
const noPerf = perfUsable()

let sandbox: Sandbox
let dir: string

beforeAll(async () => {
  if (noPerf) return
  sandbox = await createSandbox()
  dir = await mkdtemp(join(tmpdir(), 'cachelab-bench-perf-'))
})
afterAll(async () => {
  await sandbox?.drop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

for (const against of ['bare', 'app']) {
  it.skipIf(noPerf !== undefined)(`npm run bench:perf -- --against ${against} prints CPU per request by origin for both servers${noPerf ? ` (skipped: perf unusable: ${noPerf})` : ''}`, { timeout: 300_000 }, async () => {
    // A directory that does not exist yet, as reports/bench/ on a fresh clone.
    const out = join(dir, against, 'perf.data')
    const args = ['--against', against, '--rounds', '1', '--slice', '0.4', '--keys', '20', '--connections', '4', '--top', '5', '--out', out]
    const { code, output } = await runBenchScript('bench/perf-profile.ts', args, sandbox)
    expect(code, output).toBe(0)
    for (const name of ['ours', 'bare']) expect(output).toMatch(new RegExp(`^${name}\\s+\\d+ requests; /proc CPU per request: main thread [\\d.]+ µs`, 'm'))
    expect(output).toMatch(/CPU µs per request by origin/)
    // The table's last line: both totals are positive numbers.
    const total = /^\s*([\d.]+)\s+([\d.]+)\s+-?[\d.]+\s+total \(sampled\)$/m.exec(output)
    expect(total, output).not.toBeNull()
    expect(Number(total![1])).toBeGreaterThan(0)
    expect(Number(total![2])).toBeGreaterThan(0)
    expect((await stat(out)).size).toBeGreaterThan(0)
  })
}
