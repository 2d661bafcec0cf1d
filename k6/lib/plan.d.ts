// Types of plan.js (plain JavaScript so that k6 runs it; Node tests import it through these).
import type { Arrival, Baselines, Definition, MixEntry, Phase, PhaseEvent, Workload } from '../../scenarios/runner/schemas.js'
import type { PlannedRequest } from '../../scenarios/lib/workload.js'

export declare const DEFAULT_SETUP_SECONDS: number
export declare const DROPPED_SHARE_LIMIT: number
export declare const WORKER_ENTRY: string

export type ResolvedWorkload = Workload & { warmupSeconds: number; settleSeconds: number; sampleIntervalMs: number; requestTimeoutMs: number }

export declare function resolveWorkload(def: Definition, phase: Phase, opts: { quick: boolean; durationSeconds?: number | undefined }): ResolvedWorkload
export declare function arrivalDurationSeconds(arrival: Arrival, durationSeconds: number): number
export declare function momentSeconds(at: number | string, durationSeconds: number): number
export declare function dueBy(arrival: Arrival, seconds: number): number
export declare function selectPhases(def: Definition, names?: string[]): Phase[]
export declare function k6ScenarioName(index: number, phase: string, part: string): string
export declare function integerRates(rates: number[]): { unit: number; rates: number[] }
export declare function ms(seconds: number): string
export declare function executorFor(arrival: Arrival, seconds: number): Record<string, unknown>

export interface AdminCall {
  method: string
  path: string
  body?: unknown
}

/** An event as k6 runs it: an admin call, a stand-in (approximation) or nothing (skipped, with why). */
export interface EventCall {
  what: string
  call: AdminCall | null
  approximation?: string
  skipped?: string
}
export declare function eventCall(ev: PhaseEvent, def: Definition, context?: { frozenSeconds?: number }): EventCall

export interface PlannedEvent extends EventCall {
  index: number
  /** Seconds after the measured start. */
  at: number
  /** Seconds after the test start. */
  startAt: number
}

export interface PlannedPhase {
  index: number
  name: string
  description?: string
  strategies?: Phase['strategies']
  warm?: Phase['warm']
  workload: ResolvedWorkload
  sequenceKey: string
  /** Requests due in the warm-up and the measured part (open model; 0 for a closed one). */
  requests: { warmup: number; measured: number }
  events: PlannedEvent[]
  /** Seconds after the test start (measuredSeconds, drainSeconds and settleSeconds are lengths). */
  timeline: { setupAt: number; warmupAt: number; measuredAt: number; measuredSeconds: number; drainSeconds: number; settleSeconds: number; endAt: number }
}

export interface Plan {
  scenario: string
  title: string
  quick: boolean
  seed: number
  seededOrders: number
  setupSeconds: number
  phases: PlannedPhase[]
  sequences: Record<string, { mix: MixEntry[]; length: number; closed: boolean }>
  totalSeconds: number
}

export declare function buildPlan(def: Definition, opts: { quick?: boolean; seed?: number; phases?: string[] | undefined; durationSeconds?: number | undefined; setupSeconds?: number }): Plan

export declare function requestSequence(mix: MixEntry[], opts: { seed: number; seededOrders: number }, length: number): (PlannedRequest & { name: string })[]

export declare function k6Scenarios(plan: Plan): Record<string, Record<string, unknown> & { executor: string; startTime: string; exec: string; env: Record<string, string>; tags: { phase: string; stage: string } }>

export type Threshold = string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string }

export declare function k6Thresholds(
  plan: Plan,
  baselines: Baselines | undefined,
): {
  thresholds: Record<string, Threshold[]>
  mapped: { phase: string; figure: string; metric: string; conditions: string[] }[]
  notInK6: { phase: string; figure: string; expectation: unknown; why: string }[]
}
