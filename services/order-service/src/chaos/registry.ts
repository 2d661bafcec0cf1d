import Value from 'typebox/value'
import { InvalidChaos } from '../errors.js'
import type { DbOperation, Metrics } from '../metrics.js'
import type { SharedState } from '../shared-state.js'
import type { DbFaultHooks } from '../db/order-repository.js'
import type { StrategyContext } from '../strategies/types.js'
import { CHAOS, findChaos } from './catalogue.js'
import type { FaultHooks } from './types.js'

export interface ActiveFault {
  fault: string
  params: Record<string, unknown>
  /** Epoch ms after which the fault ends by itself, or null. */
  until: number | null
}

export function chaosCatalogue() {
  return CHAOS.map((c) => ({ name: c.name, kind: c.kind, description: c.description, params: c.params.properties }))
}

/** Validates a chaos request; returns the definition and its parameters with defaults applied. */
export function resolveChaos(name: unknown, params: unknown) {
  const def = typeof name === 'string' ? findChaos(name) : undefined
  if (!def) throw new InvalidChaos(`unknown chaos ${JSON.stringify(name)}; allowed: ${CHAOS.map((c) => c.name).join(', ')}`)
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) throw new InvalidChaos(`${def.name}: params must be an object`)
  const given = structuredClone((params ?? {}) as Record<string, unknown>)
  const allowed = Object.keys(def.params.properties)
  const unknown = Object.keys(given).filter((k) => !allowed.includes(k))
  if (unknown.length > 0) throw new InvalidChaos(`${def.name}: unknown parameter ${unknown.join(', ')}; allowed: ${allowed.join(', ') || '(none)'}`)
  const full = Value.Default(def.params, given) as Record<string, unknown>
  if (!Value.Check(def.params, full)) {
    const errors = [...Value.Errors(def.params, full)]
    const first = errors[0]
    // A union of literals fails once per literal ("must be equal to constant"): name them instead.
    const allowed = errors.filter((e) => e.instancePath === first?.instancePath && e.keyword === 'const').map((e) => JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue))
    const message = allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : (first?.message ?? 'invalid parameters')
    throw new InvalidChaos(`${def.name}: ${first?.instancePath ? `${first.instancePath.slice(1)} ` : ''}${message}`)
  }
  return { def, params: full }
}

/**
 * Active faults on this replica, from the shared state every replica reads. Exposes the composed
 * hooks to the database and read paths; with no fault active they cost one boolean check.
 */
export class ChaosRegistry implements DbFaultHooks {
  private active: ActiveFault[] = []
  private hooks: FaultHooks[] = []
  /** Hooks by fault entry, kept while the entry is unchanged (a hook may hold state: blocked queries). */
  private hooksByEntry = new Map<string, FaultHooks>()
  private dbHooks: NonNullable<FaultHooks['db']>[] = []
  private fillHooks: NonNullable<FaultHooks['beforeCacheFill']>[] = []
  private shared: SharedState | undefined
  private expiryTimer: NodeJS.Timeout | undefined

  constructor(private readonly metrics: Metrics) {
    for (const c of CHAOS) if (c.kind === 'fault') metrics.chaosActive.set({ fault: c.name }, 0)
  }

  async attach(shared: SharedState): Promise<void> {
    this.shared = shared
    await shared.start()
  }

  list(): ActiveFault[] {
    return structuredClone(this.active)
  }

  async activate(name: unknown, params: unknown, durationSeconds?: number): Promise<ActiveFault> {
    const { def, params: full } = resolveChaos(name, params)
    if (def.kind !== 'fault') throw new InvalidChaos(`${def.name} is an action; run it with POST /admin/chaos/actions`)
    const entry: ActiveFault = { fault: def.name, params: full, until: durationSeconds ? Date.now() + durationSeconds * 1000 : null }
    await this.requireShared().write({ [def.name]: entry })
    return entry
  }

  async deactivate(name?: string): Promise<void> {
    if (name !== undefined && !findChaos(name)) throw new InvalidChaos(`unknown chaos "${name}"; allowed: ${CHAOS.map((c) => c.name).join(', ')}`)
    const names = name ? [name] : CHAOS.filter((c) => c.kind === 'fault').map((c) => c.name)
    await this.requireShared().write({}, names)
  }

  async runAction(ctx: StrategyContext, name: unknown, params: unknown): Promise<Record<string, unknown>> {
    const { def, params: full } = resolveChaos(name, params)
    if (def.kind !== 'action') throw new InvalidChaos(`${def.name} is a fault; switch it on with POST /admin/chaos`)
    return def.run(ctx, full as never)
  }

  /** SharedState's onChange. */
  applyStored(fields: Record<string, string>): void {
    const now = Date.now()
    const active: ActiveFault[] = []
    for (const [name, raw] of Object.entries(fields)) {
      try {
        const entry = JSON.parse(raw) as ActiveFault
        if (entry.until !== null && entry.until <= now) continue
        resolveChaos(name, entry.params)
        active.push(entry)
      } catch {
        // A fault this version does not know (or a corrupt entry) is not applied.
      }
    }
    this.setActive(active)
  }

  private setActive(active: ActiveFault[]): void {
    this.active = active
    const kept = new Map<string, FaultHooks>()
    this.hooks = active.map((a) => {
      const sig = JSON.stringify([a.fault, a.params, a.until])
      let hooks = this.hooksByEntry.get(sig)
      if (!hooks) {
        const def = findChaos(a.fault)!
        hooks = def.kind === 'fault' ? def.hooks(a.params as never) : {}
      }
      kept.set(sig, hooks)
      return hooks
    })
    for (const [sig, hooks] of this.hooksByEntry) if (!kept.has(sig)) hooks.dispose?.()
    this.hooksByEntry = kept
    this.dbHooks = this.hooks.flatMap((h) => (h.db ? [h.db] : []))
    this.fillHooks = this.hooks.flatMap((h) => (h.beforeCacheFill ? [h.beforeCacheFill] : []))
    for (const c of CHAOS) if (c.kind === 'fault') this.metrics.chaosActive.set({ fault: c.name }, active.some((a) => a.fault === c.name) ? 1 : 0)
    // End timed faults on time even between polls.
    clearTimeout(this.expiryTimer)
    const next = Math.min(...active.map((a) => a.until ?? Infinity))
    if (Number.isFinite(next)) {
      this.expiryTimer = setTimeout(() => this.setActive(this.active.filter((a) => a.until === null || a.until > Date.now())), Math.max(0, next - Date.now()) + 5)
      this.expiryTimer.unref()
    }
  }

  affects(op: DbOperation): boolean {
    if (this.dbHooks.length === 0) return false
    return this.dbHooks.some((h) => h.affects(op))
  }

  async apply(op: DbOperation, signal: AbortSignal): Promise<void> {
    for (const h of this.dbHooks) if (h.affects(op)) await h.apply(op, signal)
  }

  /** True while a fault pauses the order worker. */
  workerPaused(): boolean {
    return this.hooks.some((h) => h.worker?.paused)
  }

  /** Undefined when no fault widens the fill window (the common case costs nothing). */
  beforeCacheFill(): Promise<void> | undefined {
    if (this.fillHooks.length === 0) return undefined
    return Promise.all(this.fillHooks.map((h) => h())).then(() => undefined)
  }

  close(): void {
    clearTimeout(this.expiryTimer)
    this.shared?.stop()
    for (const hooks of this.hooksByEntry.values()) hooks.dispose?.()
    this.hooksByEntry.clear()
  }

  private requireShared(): SharedState {
    if (!this.shared) throw new Error('chaos registry is not attached to its shared state')
    return this.shared
  }
}
