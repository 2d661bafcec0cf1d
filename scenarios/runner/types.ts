import type { Redis } from 'ioredis'
import type { Pool } from 'mysql2/promise'
import type { AdminClient } from './admin.js'
import type { MetricsWindow, Snapshot } from './prom.js'
import type { Definition, Phase, PhaseResult, Series, Workload } from './schemas.js'

// The interface a scenario author uses: a definition file (scenarios/definitions/<name>.json), an
// effects module (scenarios/effects/<name>.ts) exporting defineScenario({...}), and one line in
// scenarios/catalogue.ts.

/** One request of the measured part of a phase, as the load generator saw it. */
export interface RequestRecord {
  kind: 'read' | 'update' | 'create'
  /** The mix entry's tag (default: the kind). */
  tag: string
  /** The order id asked for; for a create, the id the service assigned (when it answered). */
  id: string | undefined
  /** HTTP status; 0 when the request failed without an answer (connection error, timeout). */
  status: number
  /** Milliseconds since the measured start (performance clock) when the request was sent / answered. */
  start: number
  end: number
  latencyMs: number
  /** The `version` a read returned or a write acknowledged (undefined without a 2xx order body). */
  version: number | undefined
  /** Index of the replica (base URL) that answered, in target.baseUrls order. */
  replica: number
  error?: string
}

/** The phase as run: the definition's phase with its workload resolved (scenario + quick + phase overrides). */
export interface ResolvedPhase extends Omit<Phase, 'workload' | 'quick'> {
  workload: Required<Pick<Workload, 'warmupSeconds' | 'settleSeconds' | 'sampleIntervalMs' | 'requestTimeoutMs'>> & Workload
}

/** The figures every phase reports (the result JSON's fields), computed before the effects. */
export type StandardFigures = Omit<PhaseResult, 'name' | 'description' | 'strategies' | 'strategyParams' | 'effect' | 'events' | 'series'>

/** What the runner drives: the service replicas it started, or a deployment given with --base-url. */
export interface TargetInfo {
  mode: 'local' | 'remote'
  /** Replicas receiving the load (one per replica locally; the --base-url otherwise). */
  baseUrls: string[]
  /** Prefix of every Redis key of the service under test. */
  keyPrefix: string
  /** Scrapes /metrics of every process that exposes it (service replicas and http processes). */
  scrape(): Promise<Snapshot>
  /** Local runs: the processes the runner started, by name ("order-service", or a deployment.processes name). */
  processes?: ProcessControl
}

/** SIGSTOP freezes a process (a hung server: its clients wait) until SIGCONT. */
export type ProcessSignal = 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT' | 'restart'

export interface ProcessControl {
  names(): string[]
  /** Sends a signal to every replica of a process group, or restarts them (and waits until ready). */
  signal(name: string, signal: ProcessSignal): Promise<void>
  /** True while at least one replica of the group runs. */
  running(name: string): boolean
}

/** Everything an effects module receives for one phase. */
export interface PhaseContext {
  scenario: Definition
  phase: ResolvedPhase
  quick: boolean
  seed: number
  /** Every request of the measured part, in the order they were sent. */
  records: RequestRecord[]
  /** /metrics over the measured part, summed over processes: delta(selector), start(selector), end(selector). */
  metrics: MetricsWindow
  /** The time series sampled during the phase (also in the result JSON). */
  series: Series
  /**
   * The phase's events as they ran (seconds since the measured start when each was sent; a loaded
   * machine fires them late), with each action's result as JSON in `detail`.
   */
  events: PhaseResult['events']
  /** The standard figures of the phase (requests, hitRatio, dbQueries, latency...). */
  figures: StandardFigures
  /** Epoch milliseconds of the measured start and end (records are relative to the start). */
  measuredStartedAt: number
  measuredEndedAt: number
  admin: AdminClient
  target: TargetInfo
  /** The service's database (local runs; remote runs when MYSQL_URL is set). */
  mysql: Pool | undefined
  /** The service's Redis (local runs; remote runs when REDIS_URL is set); keys under target.keyPrefix. */
  redis: Redis | undefined
  /** Prints a note under the phase's progress line (and keeps it in the result's events). */
  note(message: string): void
}

/** What the effects function returns: one number (or null: not measurable in this phase) per declared effect. */
export type EffectFigures = Record<string, number | null>

/** Set-up hook: runs after the phase's strategies, flush and warm-up request, before any load. */
export interface SetupContext {
  scenario: Definition
  phase: ResolvedPhase
  quick: boolean
  /** The workload seed: createWorkload(phase.workload, {seed, seededOrders}) replays the phase's requests. */
  seed: number
  admin: AdminClient
  target: TargetInfo
  mysql: Pool | undefined
  redis: Redis | undefined
}

export interface ScenarioModule {
  /** Must equal the definition's name (scenarios/definitions/<name>.json). */
  name: string
  /** Computes the definition's declared `effects` for one phase. */
  effects(ctx: PhaseContext): EffectFigures | Promise<EffectFigures>
  beforePhase?(ctx: SetupContext): void | Promise<void>
}

export function defineScenario(module: ScenarioModule): ScenarioModule {
  return module
}
