import type { FastifySchemaValidationError } from 'fastify/types/schema.js'

interface VerboseError extends FastifySchemaValidationError {
  parentSchema?: { properties?: Record<string, unknown>; anyOf?: { const?: unknown }[] }
}

/**
 * Turns Ajv's errors into one message that says what is wrong and what is allowed, e.g.
 * `body/status must be one of "pending", "paid"...` or `body has unknown field "foo"; allowed: ...`.
 * Needs Ajv's `verbose` option (parentSchema on each error).
 */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const errs = errors as VerboseError[]
  // A union of literals fails every branch, then anyOf: report the anyOf with its allowed values.
  const anyOf = errs.find((e) => e.keyword === 'anyOf')
  const e = anyOf ?? errs[0]!
  const path = `${dataVar}${e.instancePath ?? ''}`
  let message: string
  if (e.keyword === 'anyOf' && e.parentSchema?.anyOf?.every((b) => b.const !== undefined)) {
    message = `${path} must be one of ${e.parentSchema.anyOf.map((b) => JSON.stringify(b.const)).join(', ')}`
  } else if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty?: string }).additionalProperty
    const allowed = Object.keys(e.parentSchema?.properties ?? {})
    message = `${path} has unknown field "${extra}"; allowed: ${allowed.join(', ') || '(none)'}`
  } else {
    message = `${path} ${e.message ?? 'is invalid'}`
  }
  const err = new Error(message) as Error & { validation: unknown }
  err.validation = errors
  return err
}
