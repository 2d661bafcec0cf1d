import type { TObject, Static } from 'typebox'
import type { DbOperation } from '../metrics.js'
import type { StrategyContext } from '../strategies/types.js'

/** Where an active fault acts. Each hook is optional; the registry composes all active faults. */
export interface FaultHooks {
  /**
   * Database path: which operations the fault affects, and what it does before each. `signal`
   * aborts at the query's deadline: a hook that holds a query must give up then.
   */
  db?: { affects(op: DbOperation): boolean; apply(op: DbOperation, signal: AbortSignal): Promise<void> }
  /** Read path: awaited between the MySQL read and the cache fill (widens the stale-set race). */
  beforeCacheFill?(): Promise<void>
  /** Order worker: stop taking messages while active. */
  worker?: { paused: boolean }
  /** Called once when the fault is switched off or ends (releases whatever it holds). */
  dispose?(): void
}

/**
 * A chaos entry of the catalogue: a `fault` is a state shared by every replica until cleared (or
 * until its duration ends); an `action` runs once, now, on the replica that receives it.
 */
export type ChaosDefinition<P extends TObject = TObject> =
  | { kind: 'fault'; name: string; description: string; params: P; hooks(params: Static<P>): FaultHooks }
  | { kind: 'action'; name: string; description: string; params: P; run(ctx: StrategyContext, params: Static<P>): Promise<Record<string, unknown>> }

export function defineChaos<P extends TObject>(def: ChaosDefinition<P>): ChaosDefinition<P> {
  return def
}
