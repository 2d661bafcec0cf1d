import { describe, expect, it } from 'vitest'
import { scenarioNames } from '../../scenarios/catalogue.js'
import { parseCommandLine } from '../../scenarios/runner/args.js'

// Every registered scenario, in catalogue order (the list grows as scenarios are added).
const ALL = scenarioNames()

const error = (argv: string[]) => {
  try {
    parseCommandLine(argv)
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`
  }
  throw new Error(`accepted: ${argv.join(' ')}`)
}

describe('lab command line', () => {
  it('parses a scenario run', () => {
    expect(parseCommandLine(['scenario', 'hot-set', '--quick', '--seed', '7', '--json', 'out.json', '--phases', 'fixed-ttl:long', '--duration', '2.5'])).toMatchObject({
      command: 'scenario',
      names: ['hot-set'],
      quick: true,
      seed: 7,
      json: 'out.json',
      phases: ['fixed-ttl:long'],
      durationSeconds: 2.5,
      remote: undefined,
    })
    expect(parseCommandLine(['ci'])).toMatchObject({ command: 'ci', quick: true, update: false, names: ALL })
    expect(parseCommandLine(['lab', '--base-url', 'http://localhost:3000', '--admin-token', 'secret-token-123456'])).toMatchObject({ remote: { baseUrl: 'http://localhost:3000', adminToken: 'secret-token-123456' } })
  })

  it('refuses bad input with one line naming the problem and what is allowed', () => {
    expect(ALL).toContain('hot-set')
    expect(error(['scenario', 'hot-sett'])).toBe(`UsageError: unknown scenario "hot-sett"; allowed: ${ALL.join(', ')}`)
    expect(error(['scenario'])).toBe(`UsageError: name a scenario; allowed: ${ALL.join(', ')}`)
    expect(error(['lab', '--only', 'nope'])).toBe(`UsageError: unknown scenario "nope"; allowed: ${ALL.join(', ')}`)
    expect(error(['scenario', 'hot-set', '--fast'])).toMatch(/^UsageError: unknown flag --fast; allowed: --quick, --seed, --json, --report, --phases, --duration, --base-url/)
    expect(error(['lab', '--phases', 'x'])).toMatch(/^UsageError: flag --phases does not apply to lab; allowed: --quick/)
    expect(error(['scenario', 'hot-set', '--seed', 'abc'])).toBe('UsageError: --seed must be an integer from 0 to 4294967295, got "abc"')
    expect(error(['scenario', 'hot-set', '--duration=-1'])).toBe('UsageError: --duration must be seconds from 0 (exclusive) to 3600, got "-1"')
    expect(error(['scenario', 'hot-set', '--duration', '-1'])).toMatch(/^UsageError: flag --duration is followed by something that looks like a flag; for a value starting with "-" write --duration=VALUE/)
    expect(error(['scenario', 'hot-set', '--seed'])).toMatch(/^UsageError: flag --seed needs a value/)
    expect(error(['scenario', 'hot-set', '--base-url', 'localhost:3000'])).toBe('UsageError: --base-url must be an http(s) URL like http://localhost:3000, got "localhost:3000"')
    expect(error(['bench'])).toBe('UsageError: unknown command "bench"; allowed: scenario, lab, ci')
    expect(error(['lab', 'hot-set'])).toMatch(/^UsageError: unexpected argument "hot-set"; lab runs every scenario \(choose with --only a,b\)/)
  })

  it('asks for the admin token with --base-url', () => {
    const saved = process.env.ADMIN_TOKEN
    delete process.env.ADMIN_TOKEN
    try {
      expect(error(['scenario', 'hot-set', '--base-url', 'http://localhost:3000'])).toMatch(/needs the service's admin token: --admin-token T \(or ADMIN_TOKEN\)/)
    } finally {
      if (saved !== undefined) process.env.ADMIN_TOKEN = saved
    }
  })
})
