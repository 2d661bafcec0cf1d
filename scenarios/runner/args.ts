import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { scenarioNames } from '../catalogue.js'
import { BASELINES_PATH } from './baselines.js'
import { UsageError } from './errors.js'
import type { RunOptions } from './run.js'

const COMMANDS = ['scenario', 'lab', 'ci'] as const
type Command = (typeof COMMANDS)[number]

export const USAGE = `usage:
  npm run scenario -- <name> [--quick] [--seed N] [--json FILE] [--report DIR] [--phases a,b] [--duration S]
                             [--base-url URL --admin-token T [--metrics-url URL,URL]] [--quiet]
  npm run lab -- [--quick] [--only a,b] [--seed N] [--json FILE] [--report DIR] [--duration S] [--base-url URL --admin-token T]
  npm run lab:ci -- [--update] [--only a,b] [--seed N] [--json FILE] [--report DIR] [--duration S] [--baselines FILE]
scenarios: ${scenarioNames().join(', ')}`

const OPTIONS = {
  quick: { type: 'boolean' },
  seed: { type: 'string' },
  json: { type: 'string' },
  report: { type: 'string' },
  phases: { type: 'string' },
  only: { type: 'string' },
  duration: { type: 'string' },
  'base-url': { type: 'string' },
  'admin-token': { type: 'string' },
  'metrics-url': { type: 'string' },
  update: { type: 'boolean' },
  baselines: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const
const ALLOWED: Record<Command, (keyof typeof OPTIONS)[]> = {
  scenario: ['quick', 'seed', 'json', 'report', 'phases', 'duration', 'base-url', 'admin-token', 'metrics-url', 'quiet', 'help'],
  lab: ['quick', 'seed', 'json', 'report', 'only', 'duration', 'base-url', 'admin-token', 'metrics-url', 'quiet', 'help'],
  ci: ['update', 'seed', 'json', 'report', 'only', 'duration', 'baselines', 'quiet', 'help'],
}
const flagList = (cmd: Command) => ALLOWED[cmd].map((f) => `--${f}`).join(', ')

export interface ParsedArgs {
  command: Command
  names: string[]
  quick: boolean
  seed: number
  json: string | undefined
  report: string | undefined
  phases: string[] | undefined
  durationSeconds: number | undefined
  remote: RunOptions['remote']
  update: boolean
  baselines: string
  quiet: boolean
  help: boolean
}

const list = (v: string | undefined) =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)

/** Parses and checks the command line; every problem is a UsageError naming what is allowed. */
export function parseCommandLine(argv: string[]): ParsedArgs {
  const [command, ...rest] = argv
  if (!COMMANDS.includes(command as Command)) throw new UsageError(`unknown command "${command ?? ''}"; allowed: ${COMMANDS.join(', ')}`)
  const cmd = command as Command
  let parsed
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    const e = err as { code?: string; message: string }
    const flag = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1]
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${flag}; allowed: ${flagList(cmd)}`)
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/ambiguous/.test(e.message)) throw new UsageError(`flag ${flag} is followed by something that looks like a flag; for a value starting with "-" write ${flag}=VALUE`)
      throw new UsageError(`flag ${flag ?? ''} needs a value`)
    }
    throw new UsageError(e.message.split('\n')[0]!)
  }
  const { values, positionals } = parsed
  for (const key of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (!ALLOWED[cmd].includes(key)) throw new UsageError(`flag --${key} does not apply to ${cmd}; allowed: ${flagList(cmd)}`)
  }
  const known = scenarioNames()
  let names: string[]
  if (cmd === 'scenario') {
    if (values.help) names = []
    else if (positionals.length !== 1) throw new UsageError(`${positionals.length === 0 ? 'name a scenario' : `one scenario at a time, got ${positionals.join(' ')}`}; allowed: ${known.join(', ')}`)
    else names = positionals
  } else {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; ${cmd === 'lab' ? 'lab' : 'lab:ci'} runs every scenario (choose with --only a,b)`)
    names = list(values.only) ?? known
    if (names.length === 0) throw new UsageError(`--only needs scenario names; allowed: ${known.join(', ')}`)
  }
  for (const n of names) if (!known.includes(n)) throw new UsageError(`unknown scenario "${n}"; allowed: ${known.join(', ')}`)

  const seed = values.seed === undefined ? 1 : Number(values.seed)
  if (!Number.isInteger(seed) || seed < 0 || seed > 4294967295) throw new UsageError(`--seed must be an integer from 0 to 4294967295, got "${values.seed}"`)
  let durationSeconds: number | undefined
  if (values.duration !== undefined) {
    durationSeconds = Number(values.duration)
    if (!Number.isFinite(durationSeconds) || durationSeconds <= 0 || durationSeconds > 3600) throw new UsageError(`--duration must be seconds from 0 (exclusive) to 3600, got "${values.duration}"`)
  }
  let remote: RunOptions['remote']
  if (values['base-url'] !== undefined) {
    const url = values['base-url']
    if (!/^https?:\/\/[^/\s]+/.test(url)) throw new UsageError(`--base-url must be an http(s) URL like http://localhost:3000, got "${url}"`)
    const token = values['admin-token'] ?? process.env.ADMIN_TOKEN
    if (!token) throw new UsageError('--base-url needs the service\'s admin token: --admin-token T (or ADMIN_TOKEN)')
    const metricsUrls = list(values['metrics-url'])
    for (const m of metricsUrls ?? []) if (!/^https?:\/\//.test(m)) throw new UsageError(`--metrics-url must be http(s) URLs, got "${m}"`)
    remote = { baseUrl: url, adminToken: token, ...(metricsUrls ? { metricsUrls } : {}) }
  } else if (values['admin-token'] !== undefined || values['metrics-url'] !== undefined) {
    throw new UsageError('--admin-token and --metrics-url go with --base-url')
  }
  for (const [flag, v] of [
    ['json', values.json],
    ['report', values.report],
    ['baselines', values.baselines],
  ] as const) {
    if (v !== undefined && v.trim() === '') throw new UsageError(`--${flag} needs a path`)
  }
  return {
    command: cmd,
    names,
    quick: cmd === 'ci' ? true : !!values.quick,
    seed,
    json: values.json,
    report: values.report,
    phases: list(values.phases),
    durationSeconds,
    remote,
    update: !!values.update,
    baselines: values.baselines ? resolve(values.baselines) : BASELINES_PATH,
    quiet: !!values.quiet,
    help: !!values.help,
  }
}

