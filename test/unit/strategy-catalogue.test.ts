import { describe, expect, it } from 'vitest'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import { FAMILIES, FAMILY_PARAMS } from '../../services/order-service/src/strategies/families.js'
import { catalogue, defaultState, validatePatch } from '../../services/order-service/src/strategies/registry.js'

describe('strategy catalogue', () => {
  it('has a baseline mode and defaults for every parameter of every family', () => {
    const state = defaultState()
    for (const f of FAMILIES) {
      expect(MODES[f].length).toBeGreaterThan(0)
      expect(state[f].mode).toBe(MODES[f][0]!.name)
      expect(Object.keys(state[f].params).sort()).toEqual(Object.keys(FAMILY_PARAMS[f].properties).sort())
    }
  })

  it('every mode is of its family, named uniquely, described, and uses only its family parameters', () => {
    for (const f of FAMILIES) {
      const names = MODES[f].map((m) => m.name)
      expect(new Set(names).size).toBe(names.length)
      for (const m of MODES[f]) {
        expect(m.family).toBe(f)
        expect(m.name).toMatch(/^[a-z][a-z0-9+-]*$/)
        expect(m.description.length).toBeGreaterThan(20)
        for (const p of m.uses) expect(Object.keys(FAMILY_PARAMS[f].properties)).toContain(p)
      }
    }
  })

  it('every parameter has a range and a description', () => {
    for (const entry of catalogue()) {
      for (const [name, schema] of Object.entries(entry.params)) {
        const s = schema as { description?: string; minimum?: number; anyOf?: unknown[] }
        expect(s.description, `${entry.family}.${name}`).toBeTruthy()
        expect(s.minimum !== undefined || s.anyOf !== undefined, `${entry.family}.${name} has a range`).toBe(true)
      }
    }
  })

  it('validation messages say what is allowed', () => {
    expect(() => validatePatch({ nope: {} })).toThrow(/unknown strategy family "nope"; allowed: penetration, breakdown/)
    expect(() => validatePatch({ breakdown: { mode: 'x' } })).toThrow(/unknown breakdown mode "x"; allowed: none/)
    expect(() => validatePatch({ breakdown: { params: { lockTtl: 1 } } })).toThrow(/unknown breakdown parameter "lockTtl"; allowed: lockTtlMs/)
    expect(() => validatePatch({ breakdown: { params: { lockTtlMs: 1 } } })).toThrow(/breakdown.lockTtlMs = 1 is out of range: an integer from 50 to 60000/)
    expect(() => validatePatch({ breakdown: { params: { lockFallback: 'retry' } } })).toThrow(/one of "db", "fail"/)
    expect(() => validatePatch({ breakdown: { mode: 'none', params: { lockTtlMs: 100 } } })).not.toThrow()
  })
})
