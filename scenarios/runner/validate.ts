import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { TSchema } from 'typebox'
import { LabError } from './errors.js'

const ajv = new Ajv({ allErrors: true, strict: false })
addFormats.default(ajv)
const compiled = new WeakMap<TSchema, ValidateFunction>()

/** Validates data against a schema; throws a LabError whose one line says where and what. */
export function check<T>(schema: TSchema, data: unknown, what: string): T {
  let validate = compiled.get(schema)
  if (!validate) {
    validate = ajv.compile(schema)
    compiled.set(schema, validate)
  }
  if (!validate(data)) throw new LabError(`${what}: ${formatErrors(validate.errors ?? [])}`)
  return data as T
}

/**
 * Ajv reports every branch of a union. The useful error is in the branch whose discriminator
 * (`distribution`, `model`...) matched; when none matched, the allowed discriminator values are.
 */
export function formatErrors(errors: ErrorObject[], after = ''): string {
  const first = errors.find((e) => e.keyword !== 'anyOf') ?? errors[0]
  if (!first) return 'invalid'
  const union = new RegExp(`^(${escape(after)}.*?/anyOf)/\\d+/`).exec(after ? (first.schemaPath.startsWith(after) ? first.schemaPath : '') : first.schemaPath)
  if (!union) return describe(first)
  const base = union[1]!
  const branches = new Map<string, ErrorObject[]>()
  for (const e of errors) {
    const m = new RegExp(`^${escape(base)}/(\\d+)/`).exec(e.schemaPath)
    if (m) branches.set(m[1]!, [...(branches.get(m[1]!) ?? []), e])
  }
  const discriminator = (i: string, e: ErrorObject) => e.keyword === 'const' && new RegExp(`^${escape(base)}/${i}/properties/[^/]+/const$`).test(e.schemaPath)
  const candidates = [...branches].filter(([i, errs]) => !errs.some((e) => discriminator(i, e)))
  if (candidates.length === 0) {
    const consts = [...branches].flatMap(([i, errs]) => errs.filter((e) => discriminator(i, e)))
    const allowed = [...new Set(consts.map((e) => JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)))]
    return `${where(consts[0]!)} must be one of ${allowed.join(', ')}`
  }
  const [i, errs] = candidates.sort((a, b) => a[1].length - b[1].length)[0]!
  return formatErrors(errs, `${base}/${i}/`)
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `${where(e)} has unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`
  if (e.keyword === 'const') return `${where(e)} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`
  return `${where(e)} ${e.message}`
}

function where(e: ErrorObject): string {
  return e.instancePath || '(top level)'
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
