import Value from 'typebox/value'
import { InvalidStrategy } from '../errors.js'
import type { SharedState } from '../shared-state.js'
import { MODES, findMode, modeNames } from './catalogue.js'
import { FAMILIES, FAMILY_DESCRIPTIONS, FAMILY_PARAMS, type Family, type FamilyParams } from './families.js'
import type { FamilyStrategies, ModeDefinition, StrategyContext } from './types.js'

export interface FamilyState<F extends Family = Family> {
  mode: string
  params: FamilyParams[F]
}
export type StrategyState = { [F in Family]: FamilyState<F> }
/** A change request: per family, a mode and/or some parameters. */
export type StrategyPatch = { [F in Family]?: { mode?: string; params?: Partial<FamilyParams[F]> } }

export function defaultState(): StrategyState {
  const state = {} as Record<Family, FamilyState>
  for (const f of FAMILIES) state[f] = { mode: MODES[f][0]!.name, params: Value.Default(FAMILY_PARAMS[f], {}) as FamilyParams[Family] }
  return state as StrategyState
}

/** The catalogue as the admin API shows it: families, their modes and parameters with ranges. */
export function catalogue() {
  return FAMILIES.map((family) => ({
    family,
    description: FAMILY_DESCRIPTIONS[family],
    baseline: MODES[family][0]!.name,
    modes: (MODES[family] as ModeDefinition[]).map((m) => ({ name: m.name, description: m.description, uses: m.uses })),
    params: FAMILY_PARAMS[family].properties,
  }))
}

/** Checks a patch against the catalogue; the message names what is wrong and what is allowed. */
export function validatePatch(patch: unknown): asserts patch is StrategyPatch {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new InvalidStrategy('body must be an object keyed by family')
  for (const [family, change] of Object.entries(patch)) {
    if (!(FAMILIES as readonly string[]).includes(family)) throw new InvalidStrategy(`unknown strategy family "${family}"; allowed: ${FAMILIES.join(', ')}`)
    const f = family as Family
    if (typeof change !== 'object' || change === null) throw new InvalidStrategy(`${f} must be an object with "mode" and/or "params"`)
    for (const key of Object.keys(change)) {
      if (key !== 'mode' && key !== 'params') throw new InvalidStrategy(`${f}: unknown field "${key}"; allowed: mode, params`)
    }
    const { mode, params } = change as { mode?: unknown; params?: unknown }
    if (mode !== undefined && (typeof mode !== 'string' || !findMode(f, mode))) {
      throw new InvalidStrategy(`unknown ${f} mode ${JSON.stringify(mode)}; allowed: ${modeNames(f).join(', ')}`)
    }
    if (params !== undefined) validateParams(f, params)
  }
}

function validateParams(family: Family, params: unknown): void {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new InvalidStrategy(`${family}.params must be an object`)
  const schema = FAMILY_PARAMS[family]
  for (const [name, value] of Object.entries(params)) {
    const prop = (schema.properties as Record<string, object>)[name]
    if (!prop) throw new InvalidStrategy(`unknown ${family} parameter "${name}"; allowed: ${Object.keys(schema.properties).join(', ')}`)
    if (!Value.Check(prop, value)) throw new InvalidStrategy(`${family}.${name} = ${JSON.stringify(value)} is out of range: ${describeRange(prop)}`)
  }
}

function describeRange(prop: object): string {
  const p = prop as { type?: string; minimum?: number; maximum?: number; anyOf?: { const: unknown }[] }
  if (p.anyOf) return `one of ${p.anyOf.map((a) => JSON.stringify(a.const)).join(', ')}`
  const kind = p.type === 'integer' ? 'an integer' : `a ${p.type}`
  return `${kind} from ${p.minimum} to ${p.maximum}`
}

/**
 * The active strategy of every family on this replica. The state lives in Redis (SharedState), so
 * a change on any replica reaches all of them, and a restarted one starts in the current state.
 * Instances are rebuilt when a family's mode or parameters change; a slow build (a Bloom filter
 * loading ids) keeps the old instance serving until the new one is ready.
 */
export class StrategyRegistry {
  /** The running instances: the read and write paths call these. */
  readonly active: FamilyStrategies
  private state: StrategyState = defaultState()
  private readonly modes = {} as { [F in Family]: ModeDefinition<F> }
  private shared: SharedState | undefined
  private readonly onApplied = new Set<(state: StrategyState) => void>()

  private constructor(
    private readonly ctx: StrategyContext,
    active: FamilyStrategies,
  ) {
    this.active = active
  }

  static async create(ctx: StrategyContext): Promise<StrategyRegistry> {
    const state = defaultState()
    const active = {} as Record<Family, unknown>
    const reg = new StrategyRegistry(ctx, active as FamilyStrategies)
    for (const f of FAMILIES) {
      const mode = findMode(f, state[f].mode)!
      active[f] = await mode.create(ctx, state[f].params as never)
      ;(reg.modes as Record<Family, ModeDefinition>)[f] = mode as ModeDefinition
    }
    return reg
  }

  /** Attaches the shared store; the current state is loaded before this resolves. */
  async attach(shared: SharedState): Promise<void> {
    this.shared = shared
    await shared.start()
  }

  current(): StrategyState {
    return structuredClone(this.state)
  }

  /** Called after every applied change (metrics gauges, logs). */
  onChange(fn: (state: StrategyState) => void): void {
    this.onApplied.add(fn)
    fn(this.current())
  }

  /** Validates, stores in Redis and broadcasts; resolves once this replica has applied it. */
  async update(patch: unknown): Promise<StrategyState> {
    validatePatch(patch)
    const next = this.merge(patch)
    const changed: Record<string, FamilyState> = {}
    for (const f of Object.keys(patch) as Family[]) changed[f] = next[f]
    if (!this.shared) throw new Error('strategy registry is not attached to its shared state')
    await this.shared.write(changed)
    return this.current()
  }

  /** Returns every family to its baseline mode and default parameters. */
  async reset(): Promise<StrategyState> {
    if (!this.shared) throw new Error('strategy registry is not attached to its shared state')
    await this.shared.write({}, [...FAMILIES])
    return this.current()
  }

  /** SharedState's onChange: the hash as stored in Redis (missing families = defaults). */
  async applyStored(fields: Record<string, string>): Promise<void> {
    const next = defaultState()
    for (const f of FAMILIES) {
      const raw = fields[f]
      if (raw === undefined) continue
      try {
        const stored = JSON.parse(raw) as { mode?: string; params?: object }
        validatePatch({ [f]: stored })
        ;(next as Record<Family, FamilyState>)[f] = {
          mode: stored.mode ?? next[f].mode,
          params: { ...next[f].params, ...stored.params } as FamilyParams[Family],
        }
      } catch (err) {
        this.ctx.log.warn({ err, family: f }, 'ignoring an invalid stored strategy; using the baseline')
      }
    }
    await this.apply(next)
  }

  private merge(patch: StrategyPatch): StrategyState {
    const next = this.current()
    for (const f of Object.keys(patch) as Family[]) {
      const change = patch[f]!
      const cur = next[f] as FamilyState
      cur.mode = change.mode ?? cur.mode
      cur.params = { ...cur.params, ...change.params } as FamilyParams[Family]
    }
    return next
  }

  private async apply(next: StrategyState): Promise<void> {
    let changed = false
    for (const f of FAMILIES) {
      const before = this.state[f]
      const after = next[f]
      if (before.mode === after.mode && JSON.stringify(before.params) === JSON.stringify(after.params)) continue
      const mode = findMode(f, after.mode)! as ModeDefinition
      const old = this.active[f]
      const oldMode = this.modes[f] as ModeDefinition
      let instance: unknown
      try {
        instance = await mode.create(this.ctx, after.params as never)
      } catch (err) {
        // The previous mode keeps serving; the next reload (broadcast or poll) tries again.
        this.ctx.log.error({ err, family: f, mode: after.mode }, 'strategy could not be built; keeping the previous one')
        continue
      }
      ;(this.active as Record<Family, unknown>)[f] = instance
      ;(this.modes as Record<Family, ModeDefinition>)[f] = mode
      ;(this.state as Record<Family, FamilyState>)[f] = structuredClone(after)
      changed = true
      this.ctx.log.info({ family: f, mode: after.mode, params: after.params }, 'strategy applied')
      try {
        await oldMode.dispose?.(old as never)
      } catch (err) {
        this.ctx.log.warn({ err, family: f }, 'disposing the previous strategy failed')
      }
    }
    if (changed) for (const fn of this.onApplied) fn(this.current())
  }

  /** Disposes every active instance (app close). */
  async close(): Promise<void> {
    this.shared?.stop()
    for (const f of FAMILIES) await (this.modes[f] as ModeDefinition).dispose?.(this.active[f] as never)
  }
}
