import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { resolveChaos } from '../../services/order-service/src/chaos/registry.js'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import { FAMILIES } from '../../services/order-service/src/strategies/families.js'
import { validatePatch } from '../../services/order-service/src/strategies/registry.js'
import { LabError } from './errors.js'
import { STANDARD_FIGURES } from './figures.js'
import { parseSelector } from './prom.js'
import { OWN_REDIS } from './redis-server.js'
import { Definition, Workload, type Phase } from './schemas.js'
import type { ResolvedPhase, ScenarioModule } from './types.js'
import { check } from './validate.js'

export const DEFINITIONS_DIR = fileURLToPath(new URL('../definitions/', import.meta.url))

export function definitionPath(name: string): string {
  return `${DEFINITIONS_DIR}${name}.json`
}

/** Reads, validates and cross-checks scenarios/definitions/<name>.json against the catalogues. */
export function loadDefinition(name: string, module?: ScenarioModule): Definition {
  const path = definitionPath(name)
  const where = `scenarios/definitions/${name}.json`
  if (!existsSync(path)) throw new LabError(`${where} does not exist`)
  let data: unknown
  try {
    data = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new LabError(`${where} is not valid JSON: ${(err as Error).message}`)
  }
  return checkDefinition(data, name, module)
}

/** Validates a definition (parsed JSON) against the schema and the strategy and chaos catalogues. */
export function checkDefinition(data: unknown, name: string, module?: ScenarioModule): Definition {
  const where = `scenarios/definitions/${name}.json`
  const def = check<Definition>(Definition, data, where)
  crossCheck(def, where, name, module)
  return def
}

function crossCheck(def: Definition, where: string, fileName: string, module: ScenarioModule | undefined): void {
  const fail = (msg: string) => {
    throw new LabError(`${where}: ${msg}`)
  }
  if (def.name !== fileName) fail(`name "${def.name}" must match the file name "${fileName}"`)
  if (module && module.name !== def.name) fail(`its effects module is named "${module.name}"`)
  const ownRedis = def.deployment?.redis === 'own'
  const processNames = ['order-service', ...(def.deployment?.processes ?? []).map((p) => p.name), ...(ownRedis ? [OWN_REDIS] : [])]
  if ((def.deployment?.processes ?? []).some((p) => p.name === OWN_REDIS)) fail(`deployment.processes: "${OWN_REDIS}" is the name of the run's own redis-server (deployment.redis "own"); pick another`)
  const effectNames = def.effects.map((e) => e.name)
  const figureNames = [...STANDARD_FIGURES.map((f) => f.name), ...effectNames]
  for (const f of def.headline ?? []) if (!figureNames.includes(f)) fail(`headline figure "${f}" is unknown; allowed: ${figureNames.join(', ')}`)
  for (const s of def.series ?? []) parseSelector(s.metric)
  const seen = new Set<string>()
  def.phases.forEach((phase, i) => {
    const at = `phases[${i}] "${phase.name}"`
    if (seen.has(phase.name)) fail(`${at}: duplicate phase name`)
    seen.add(phase.name)
    if (phase.strategies) {
      try {
        validatePatch(phase.strategies)
      } catch (err) {
        fail(`${at}: ${(err as Error).message}`)
      }
    }
    // The phase name says which mode it tests: some family must be in that mode during the phase.
    const mode = phase.name.split(':')[0]!
    const effective = FAMILIES.map((f) => phase.strategies?.[f]?.mode ?? MODES[f][0]!.name)
    if (!effective.includes(mode)) {
      const known = [...new Set(FAMILIES.flatMap((f) => MODES[f].map((m) => m.name)))]
      fail(`${at}: a phase is named after the strategy mode it tests (mode or mode:variant), but no family is in mode "${mode}" in this phase; modes: ${known.join(', ')}`)
    }
    for (const ev of phase.events ?? []) {
      try {
        if ('fault' in ev) {
          const { def: c } = resolveChaos(ev.fault, ev.params)
          if (c.kind !== 'fault') throw new Error(`${ev.fault} is an action, not a fault`)
        } else if ('clearFault' in ev) resolveChaos(ev.clearFault, undefined)
        else if ('action' in ev) {
          const { def: c } = resolveChaos(ev.action, ev.params)
          if (c.kind !== 'action') throw new Error(`${ev.action} is a fault, not an action`)
        } else if ('process' in ev && !processNames.includes(ev.process)) {
          const hint = ev.process === OWN_REDIS ? ' (set deployment.redis to "own": events never stop a Redis the run does not own)' : ''
          throw new Error(`no process "${ev.process}"${hint}; processes: ${processNames.join(', ')}`)
        }
      } catch (err) {
        fail(`${at}: event at ${ev.at}: ${(err as Error).message}`)
      }
    }
    for (const q of [false, true]) resolvePhase(def, phase, { quick: q })
  })
}

/**
 * The workload a phase runs: the scenario's, then its quick overrides (in quick mode), then the
 * phase's own overrides (and their quick ones), then a duration given on the command line.
 */
export function resolvePhase(def: Definition, phase: Phase, opts: { quick: boolean; durationSeconds?: number }): ResolvedPhase {
  const merged = {
    ...def.workload,
    ...(opts.quick ? def.quick : {}),
    ...phase.workload,
    ...(opts.quick ? phase.quick : {}),
  } as Workload
  if (opts.durationSeconds !== undefined) {
    merged.durationSeconds = opts.durationSeconds
    if (merged.arrival.model === 'open' && merged.arrival.stages) {
      // Scale the stages to the new duration, keeping their proportions.
      const total = merged.arrival.stages.reduce((s, x) => s + x.seconds, 0)
      merged.arrival = { ...merged.arrival, stages: merged.arrival.stages.map((s) => ({ ...s, seconds: (s.seconds * opts.durationSeconds!) / total })) }
    }
    if (merged.warmupSeconds) merged.warmupSeconds = Math.min(merged.warmupSeconds, opts.durationSeconds)
  }
  const where = `scenarios/definitions/${def.name}.json phase "${phase.name}"${opts.quick ? ' (quick)' : ''}`
  check(Workload, merged, `${where} workload`)
  const replicas = def.deployment?.replicas ?? 1
  merged.mix.forEach((m, i) => {
    if (m.kind !== 'create' && !m.keys) throw new LabError(`${where}: mix[${i}] (${m.kind}) needs "keys"`)
    if (m.readBack && m.kind !== 'create') throw new LabError(`${where}: mix[${i}] (${m.kind}) has "readBack", which only a create entry can have (it reads the new order back)`)
    for (const [what, replica] of [
      ['replica', m.replica],
      ['readBack.replica', m.readBack?.replica],
    ] as const) {
      if (replica !== undefined && replica >= replicas) throw new LabError(`${where}: mix[${i}] ${what} is ${replica}, but the deployment has ${replicas} replica${replicas > 1 ? 's' : ''}: allowed 0 to ${replicas - 1}`)
    }
  })
  const { workload: _w, quick: _q, ...rest } = phase
  return {
    ...rest,
    workload: { warmupSeconds: 0, settleSeconds: 0, sampleIntervalMs: 500, requestTimeoutMs: 10_000, ...merged },
  }
}

/** Seconds of a moment ("50%" of the measured duration, or seconds). */
export function momentSeconds(at: number | string, durationSeconds: number): number {
  return typeof at === 'number' ? at : (Number(at.slice(0, -1)) / 100) * durationSeconds
}
