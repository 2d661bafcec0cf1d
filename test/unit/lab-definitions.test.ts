import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SCENARIOS } from '../../scenarios/catalogue.js'
import { checkDefinition, definitionPath, loadDefinition, resolvePhase } from '../../scenarios/runner/definition.js'
import { PUBLISHED_SCHEMAS } from '../../scenarios/runner/schemas.js'
import { schemaFileText } from '../../scenarios/runner/write-schemas.js'

const hotSet = () => JSON.parse(readFileSync(definitionPath('hot-set'), 'utf8'))
const error = (data: unknown) => {
  try {
    checkDefinition(data, 'hot-set')
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('the definition was accepted')
}

describe('scenario definitions', () => {
  it('the published JSON Schema files are generated from scenarios/runner/schemas.ts (npm run lab:schemas)', () => {
    for (const [file, schema] of Object.entries(PUBLISHED_SCHEMAS)) {
      expect(readFileSync(new URL(`../../scenarios/${file}`, import.meta.url), 'utf8'), `scenarios/${file} is stale: run npm run lab:schemas`).toBe(schemaFileText(schema))
    }
  })

  it('every registered scenario has a valid definition, in full and quick mode, whose quick phases stay short', () => {
    for (const module of SCENARIOS) {
      const def = loadDefinition(module.name, module)
      // CI runs every scenario in quick mode: about 30 s per scenario at most, set-up included, so
      // the phases' load (warm-up, measured, settle) adds up to 25 s at most.
      let total = 0
      for (const phase of def.phases) {
        const quick = resolvePhase(def, phase, { quick: true }).workload
        total += quick.warmupSeconds + quick.durationSeconds + quick.settleSeconds
      }
      expect(total, `${def.name} quick load time`).toBeLessThanOrEqual(25)
    }
  })

  it('says where a definition is wrong and what is allowed', () => {
    const d1 = hotSet()
    d1.workload.mix[0].keys.distribution = 'zipfian'
    expect(error(d1)).toBe('scenarios/definitions/hot-set.json: /workload/mix/0/keys/distribution must be one of "uniform", "zipf", "hot", "missing"')

    const d2 = hotSet()
    d2.workload.mix[0].keys = { distribution: 'zipf', exponant: 1 }
    expect(error(d2)).toMatch(/\/workload\/mix\/0\/keys (must have required property 'exponent'|has unknown property "exponant")/)

    const d3 = hotSet()
    d3.phases[0].strategies.avalanche.mode = 'random-ttl'
    expect(error(d3)).toMatch(/phases\[0\] "fixed-ttl:short": unknown avalanche mode "random-ttl"; allowed: fixed-ttl/)

    const d4 = hotSet()
    d4.phases[0].name = 'mutex:short'
    expect(error(d4)).toMatch(/no family is in mode "mutex" in this phase; modes: .*fixed-ttl/)

    const d5 = hotSet()
    d5.phases[1].events = [{ at: '50%', fault: 'no-such-fault' }]
    expect(error(d5)).toMatch(/event at 50%: unknown chaos "no-such-fault"; allowed: .*db-latency/)

    const d6 = hotSet()
    d6.phases[1].name = d6.phases[0].name
    expect(error(d6)).toMatch(/duplicate phase name/)

    const d7 = hotSet()
    d7.workload.arrival = { model: 'open' }
    expect(error(d7)).toMatch(/\/workload\/arrival must have required property 'ratePerSec'/)

    const d8 = hotSet()
    d8.workload.mix[0].replica = 1
    expect(error(d8)).toMatch(/phase "fixed-ttl:short": mix\[0\] replica is 1, but the deployment has 1 replica: allowed 0 to 0/)

    const d9 = hotSet()
    d9.deployment = { replicas: 2 }
    d9.workload.mix.push({ kind: 'create', weight: 1, readBack: { replica: 2 } })
    expect(error(d9)).toMatch(/mix\[1\] readBack.replica is 2, but the deployment has 2 replicas: allowed 0 to 1/)
    d9.workload.mix[0].readBack = { replica: 0 }
    expect(error(d9)).toMatch(/mix\[0\] \(read\) has "readBack", which only a create entry can have/)

    // Process "redis" is the run's own redis-server: never the shared one.
    const d10 = hotSet()
    d10.phases[1].events = [{ at: '50%', process: 'redis', signal: 'SIGSTOP' }]
    expect(error(d10)).toMatch(/no process "redis" \(set deployment.redis to "own": events never stop a Redis the run does not own\); processes: order-service/)
    d10.deployment = { redis: 'own', processes: [{ name: 'redis', entry: 'x.ts' }] }
    expect(error(d10)).toMatch(/deployment.processes: "redis" is the name of the run's own redis-server/)
    d10.deployment = { redis: 'own' }
    expect(() => checkDefinition(d10, 'hot-set')).not.toThrow()
  })

  it('accepts a phase named after a mode with a "+" (bloom+null-cache), and only when that mode is active', () => {
    const d = hotSet()
    d.phases[1] = { name: 'bloom+null-cache:x', strategies: { penetration: { mode: 'bloom+null-cache' } } }
    expect(checkDefinition(d, 'hot-set').phases[1]!.name).toBe('bloom+null-cache:x')
    d.phases[1].strategies.penetration.mode = 'bloom'
    expect(error(d)).toMatch(/no family is in mode "bloom\+null-cache" in this phase/)
  })

  it('resolves a phase: scenario workload, then quick overrides, then the phase\'s own, then --duration', () => {
    const def = hotSet()
    def.phases[1].quick = { durationSeconds: 2 }
    const d = checkDefinition(def, 'hot-set')
    expect(resolvePhase(d, d.phases[0]!, { quick: false }).workload).toMatchObject({ durationSeconds: d.workload.durationSeconds, warmupSeconds: d.workload.warmupSeconds })
    expect(resolvePhase(d, d.phases[0]!, { quick: true }).workload).toMatchObject({ durationSeconds: d.quick!.durationSeconds, sampleIntervalMs: d.quick!.sampleIntervalMs })
    expect(resolvePhase(d, d.phases[1]!, { quick: true }).workload.durationSeconds).toBe(2)
    expect(resolvePhase(d, d.phases[1]!, { quick: true, durationSeconds: 1 }).workload).toMatchObject({ durationSeconds: 1, warmupSeconds: 1 })
  })
})
