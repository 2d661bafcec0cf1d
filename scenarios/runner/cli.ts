import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SCENARIOS } from '../catalogue.js'
import { parseCommandLine, USAGE } from './args.js'
import { compare, formatChecks, loadBaselines, updatedBaselines, writeBaselines } from './baselines.js'
import { loadDefinition } from './definition.js'
import { LabError, describeError } from './errors.js'
import { REPO_ROOT } from './processes.js'
import { Progress } from './progress.js'
import { writeReport } from './report.js'
import { runScenario, selectPhases, type RunOptions } from './run.js'
import { LabResult, type Result } from './schemas.js'
import { resultTable } from './table.js'
import { check } from './validate.js'

function writeJson(path: string, data: unknown): void {
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`)
}

async function main(argv: string[], signal: AbortSignal, progress: () => Progress): Promise<number> {
  const args = parseCommandLine(argv)
  if (args.help) {
    console.log(USAGE)
    return 0
  }
  const modules = args.names.map((n) => SCENARIOS.find((s) => s.name === n)!)
  // Every definition is checked before anything starts: a typo fails in a second, not after a run.
  const defs = modules.map((m) => loadDefinition(m.name, m))
  if (args.phases) for (const d of defs) selectPhases(d, args.phases)
  const baselines = args.command === 'ci' ? loadBaselines(args.baselines) : undefined
  const p = progress()
  const base: Omit<RunOptions, 'phases'> = {
    quick: args.quick,
    seed: args.seed,
    progress: p,
    signal,
    ...(args.durationSeconds !== undefined ? { durationSeconds: args.durationSeconds } : {}),
    ...(args.remote ? { remote: args.remote } : {}),
  }
  const startedAt = new Date().toISOString()
  const results: Result[] = []
  const failures: string[] = []
  for (const [i, def] of defs.entries()) {
    try {
      const result = await runScenario(def, modules[i]!, { ...base, ...(args.phases ? { phases: args.phases } : {}) })
      results.push(result)
      console.log(`\n${resultTable(result)}\n`)
    } catch (err) {
      if (!(err instanceof LabError) || err.exitCode === 130 || args.command === 'scenario') throw err
      // One broken scenario does not hide the others' figures; the run still fails.
      failures.push(`${def.name}: ${err.message}`)
      p.log(`error: ${def.name}: ${err.message}`)
    }
  }

  const title = args.command === 'scenario' ? `cachelab scenario ${args.names[0]}` : args.command === 'ci' ? 'cachelab lab:ci' : 'cachelab lab'
  const json = args.command === 'scenario' ? results[0] : check<LabResult>(LabResult, { startedAt, quick: args.quick, results }, 'lab result')
  if (args.json && json) {
    writeJson(args.json, json)
    p.log(`wrote ${args.json}`)
  }
  const reportDir = args.report ?? (args.command === 'lab' ? join(REPO_ROOT, 'reports', `lab-${startedAt.replace(/[:.]/g, '-')}`) : undefined)
  if (reportDir && results.length > 0) {
    const path = writeReport(reportDir, results, json, { title, generatedAt: startedAt })
    p.log(`report: ${path}`)
  }

  let code = failures.length > 0 ? 1 : 0
  if (args.command === 'ci' && baselines) {
    if (args.update) {
      if (failures.length > 0) throw new LabError(`baselines not updated: ${failures.join('; ')}`)
      writeBaselines(updatedBaselines(results, baselines), args.baselines)
      console.log(`updated ${args.baselines} from this run`)
    } else {
      const checks = compare(results, baselines)
      console.log(formatChecks(checks))
      if (checks.some((c) => !c.ok)) code = 1
    }
  }
  if (failures.length > 0) console.error(`error: ${failures.length} scenario${failures.length > 1 ? 's' : ''} failed: ${failures.join('; ')}`)
  return code
}

// Entry point: one-line errors, clean shutdown on Ctrl-C (the run's finally blocks stop the
// processes and drop the lab database), a second Ctrl-C quits at once.
{
  const controller = new AbortController()
  let progress: Progress | undefined
  const getProgress = () => (progress ??= new Progress(process.stderr, process.argv.includes('--quiet')))
  let stopping = false
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(130)
      stopping = true
      getProgress().log('interrupted: stopping the load and cleaning up (press Ctrl-C again to quit at once)')
      controller.abort()
    })
  }
  main(process.argv.slice(2), controller.signal, getProgress).then(
    (code) => process.exit(code),
    (err: unknown) => {
      progress?.clear()
      if (err instanceof LabError) {
        console.error(`error: ${err.message}`)
        process.exit(err.exitCode)
      }
      console.error(`error: ${describeError(err)}${process.env.LAB_DEBUG ? `\n${(err as Error).stack}` : ' (LAB_DEBUG=1 shows the stack)'}`)
      process.exit(1)
    },
  )
}
