import { describe, expect, it } from 'vitest'
import { scenarioNames } from '../../scenarios/catalogue.js'
import { freePort } from '../helpers/free-port.js'
import { runLabCli, type CliRun } from '../helpers/lab-cli.js'

// Bad input to the lab CLI: one line naming the problem (and the allowed values), a non-zero exit
// code, no stack trace, and nothing started.
function expectOneLineError(run: CliRun, message: RegExp): void {
  expect(run.code, run.stderr).not.toBe(0)
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('error:') || /^\s+at /.test(l))
  expect(lines, run.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(message)
  expect(run.stdout).toBe('')
}

// Each case starts the CLI (tsx) once; on a busy machine that takes seconds.
describe('lab CLI: bad input', { timeout: 300_000 }, () => {
  it('an unknown scenario or phase names the allowed values (exit code 2)', async () => {
    // (flag and value errors are covered in test/unit/lab-args.test.ts; these go through the whole CLI)
    const [scenario, phase] = await Promise.all([runLabCli(['scenario', 'hotset']), runLabCli(['scenario', 'hot-set', '--phases', 'ttl-long'])])
    expectOneLineError(scenario, new RegExp(`^error: unknown scenario "hotset"; allowed: ${scenarioNames().join(', ')}$`))
    expectOneLineError(phase, /^error: unknown phase "ttl-long" for scenario hot-set; allowed: fixed-ttl:short, fixed-ttl:long$/)
    for (const r of [scenario, phase]) expect(r.code).toBe(2)
  })

  it('an unreachable --base-url, database or Redis is named with the reason', async () => {
    const port = await freePort()
    const [remote, mysql, redis] = await Promise.all([
      runLabCli(['scenario', 'hot-set', '--quick', '--base-url', `http://127.0.0.1:${port}`, '--admin-token', 'some-admin-token-123']),
      runLabCli(['scenario', 'hot-set', '--quick'], { MYSQL_URL: `mysql://root:secret@127.0.0.1:${port}/lab` }),
      runLabCli(['scenario', 'hot-set', '--quick'], { REDIS_URL: `redis://127.0.0.1:${port}` }),
    ])
    expectOneLineError(remote, new RegExp(`^error: cannot reach --base-url http://127.0.0.1:${port}: .*ECONNREFUSED`))
    expectOneLineError(mysql, new RegExp(`^error: cannot reach MySQL at mysql://root:\\*\\*\\*@127.0.0.1:${port}/lab \\(MYSQL_URL\\): .*ECONNREFUSED`))
    expectOneLineError(redis, new RegExp(`^error: cannot reach Redis at redis://127.0.0.1:${port} \\(REDIS_URL\\): .*ECONNREFUSED`))
  })
})
