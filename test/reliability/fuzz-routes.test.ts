import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, buildWithRoutes, createSandbox, type FastifyInstance, type Route, type Sandbox } from '../helpers/app.js'
import { RedisServer } from '../helpers/redis-server.js'

// Property-based input fuzzing over every route the app registers (enumerated from the app, the
// admin API included, with the admin token so the handlers are reached): whatever the params,
// query string, body or content type, the answer is a 2xx or a 4xx with a message, never a 5xx or
// a crash, and a refused request writes nothing (MySQL rows and the whole Redis dataset unchanged).
//
// Bodies mix schema-shaped values (each route's own JSON schema turned into a generator, so many
// are valid or nearly valid and reach the handler) with arbitrary JSON and raw text. Its own
// redis-server: a valid admin call may switch chaos on, and nothing here may touch the shared one.
// FUZZ_RUNS=400 for a longer hunt than CI's.
const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 0) || 40
// Not generated as valid: redis-pause (a CLIENT PAUSE of the whole server, covered by
// redis-faults.test.ts) would stop this fuzzer itself for up to ten minutes.
const UNSAFE_VALUES = new Set(['redis-pause'])

let redis: RedisServer
/** The test's own connection to that server (no command timeout): how writes are detected. */
let probe: Redis
let sandbox: Sandbox
let app: FastifyInstance
let routes: Route[]

beforeAll(async () => {
  // DEBUG DIGEST (a digest of the whole dataset) is refused unless enabled.
  redis = await RedisServer.start({ args: ['--enable-debug-command', 'local'] })
  probe = new Redis(redis.url)
  sandbox = await createSandbox({ redisUrl: redis.url })
  await sandbox.seed(20)
  ;({ app, routes } = await buildWithRoutes(sandbox, { MYSQL_QUERY_TIMEOUT_MS: 2000, BODY_LIMIT_BYTES: 4096 }))
})
afterAll(async () => {
  await app?.close()
  probe?.disconnect()
  await redis?.stop()
  await sandbox?.drop()
})

type Schema = {
  type?: string
  const?: unknown
  anyOf?: Schema[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  pattern?: string
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  minProperties?: number
  additionalProperties?: boolean | Schema
}

/**
 * A generator of values shaped by a JSON schema: mostly valid, so that handlers are reached, with
 * the mistakes a client makes (edges just outside the range, a wrong type, an unknown choice or
 * field, a missing one) mixed in at every level.
 */
function fromSchema(s: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!s || depth > 4) return fc.jsonValue({ maxDepth: 2 })
  if (s.const !== undefined) return fc.constant(s.const)
  if (s.anyOf) {
    const consts = s.anyOf.filter((b) => b.const !== undefined).map((b) => b.const)
    if (consts.length === s.anyOf.length) return fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...consts.filter((c) => !UNSAFE_VALUES.has(String(c)))) }, { weight: 1, arbitrary: fc.constant('not-a-choice') })
    return fc.oneof(...s.anyOf.map((b) => fromSchema(b, depth + 1)))
  }
  switch (s.type) {
    case 'object': {
      const props = s.properties ?? {}
      const model: Record<string, fc.Arbitrary<unknown>> = {}
      for (const [k, v] of Object.entries(props)) model[k] = fromSchema(v, depth + 1)
      const min = s.minProperties ?? 0
      const shaped = fc.record(model, { requiredKeys: (s.required ?? []).filter((k) => k in model) }).filter((o) => Object.keys(o as object).length >= min)
      // Mostly well-shaped (mistakes compound with nesting), sometimes a field the schema does not
      // name, sometimes a required one missing.
      return fc.oneof(
        { weight: 12, arbitrary: shaped },
        { weight: 1, arbitrary: fc.tuple(shaped, fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })).map(([o, k, v]) => ({ ...(o as object), [k || 'extra']: v })) },
        { weight: 1, arbitrary: fc.record(model, { requiredKeys: [] }) },
      )
    }
    case 'array':
      return fc.array(fromSchema(s.items, depth + 1), { minLength: 0, maxLength: Math.min(s.maxItems ?? 5, 5) })
    case 'integer': {
      const min = s.minimum ?? -1000
      const max = s.maximum ?? 1000
      // Small values in range (a warm-up of a million ids would only test patience), and the edges.
      return fc.oneof({ weight: 12, arbitrary: fc.integer({ min, max: Math.min(max, min + 1000) }) }, { weight: 1, arbitrary: fc.constantFrom(min - 1, max + 1, min + 0.5, Number.MAX_SAFE_INTEGER + 2) })
    }
    case 'number':
      return fc.oneof({ weight: 12, arbitrary: fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom((s.minimum ?? 0) - 1, (s.maximum ?? 0) + 1) })
    case 'boolean':
      return fc.oneof(fc.boolean(), fc.constant('true'))
    case 'string': {
      const shaped = s.pattern ? fc.stringMatching(new RegExp(s.pattern)) : fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 30, 30) })
      return fc.oneof({ weight: 16, arbitrary: shaped }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) }, { weight: 1, arbitrary: fc.integer() })
    }
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

/** A generated value as text. fast-check makes null-prototype objects too, which String() refuses. */
function toText(v: unknown): string {
  return v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)
}

/** A path parameter: shaped by the route's schema, or anything at all (URL-encoded). */
function paramArb(route: Route, name: string): fc.Arbitrary<string> {
  const schema = (route.schema.params as Schema | undefined)?.properties?.[name]
  const shaped = fromSchema(schema).map(toText)
  // Ids of seeded orders too, so updates reach existing rows.
  return fc.oneof(fc.constantFrom('1', '2', '3', '7', '20'), shaped, fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), fc.constantFrom('0', '-1', '9223372036854775807', '9223372036854775808', '1e3', '..', '%', ' '))
}

interface Req {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string
}

function requestArb(route: Route): fc.Arbitrary<Req> {
  const names = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!)
  const params = names.length === 0 ? fc.constant({} as Record<string, string>) : fc.record(Object.fromEntries(names.map((n) => [n, paramArb(route, n)])))
  const query = fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fromSchema(route.schema.querystring as Schema).map((q) => (q && typeof q === 'object' && !Array.isArray(q) ? `?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, toText(v)] as [string, string]))}` : '')) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }).map((q) => `?${new URLSearchParams(q)}`) },
  )
  const hasBody = route.method !== 'GET' && route.method !== 'DELETE'
  const body: fc.Arbitrary<{ payload?: string; type?: string }> = hasBody
    ? fc.oneof(
        { weight: 5, arbitrary: fromSchema(route.schema.body as Schema).map((b) => ({ payload: JSON.stringify(b), type: 'application/json' })) },
        { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((b) => ({ payload: JSON.stringify(b), type: 'application/json' })) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((t) => ({ payload: t, type: 'application/json' })) },
        { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 40 }), fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data')).map(([t, type]) => ({ payload: t, type })) },
        { weight: 1, arbitrary: fc.constant({}) },
        { weight: 1, arbitrary: fc.integer({ min: 4000, max: 9000 }).map((n) => ({ payload: JSON.stringify({ item: 'x'.repeat(n) }), type: 'application/json' })) },
      )
    : fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }).map((b) => ({ payload: JSON.stringify(b), type: 'application/json' })) })
  return fc.tuple(params, query, body).map(([p, q, b]) => {
    const url = route.url.replace(/:([A-Za-z0-9_]+)/g, (_, n: string) => encodeURIComponent(p[n]!)) + q
    return { method: route.method, url, headers: { ...(route.url.startsWith('/admin') ? auth : {}), ...(b.type ? { 'content-type': b.type } : {}) }, ...(b.payload !== undefined ? { payload: b.payload } : {}) }
  })
}

/** Everything a request could write: MySQL rows (with their versions) and every Redis key and value. */
async function snapshot(): Promise<string> {
  const [rows] = await app.mysql.query('SELECT COUNT(*) AS n, COALESCE(SUM(version), 0) AS v, COALESCE(SUM(quantity + amount_cents), 0) AS q FROM orders')
  return JSON.stringify({ db: rows, redis: await probe.call('DEBUG', 'DIGEST') })
}

/** Back to the baseline after a request that changed something on purpose (a 2xx). */
async function reset(): Promise<void> {
  for (const url of ['/admin/chaos', '/admin/strategies']) {
    const res = await app.inject({ method: 'DELETE', url, headers: auth })
    expect(res.statusCode).toBe(200)
  }
}

describe('fuzzing every route (fast-check)', () => {
  it('the app registers the routes this test walks (public and admin)', () => {
    const listed = routes.map((r) => `${r.method} ${r.url}`)
    expect(listed).toContain('POST /orders')
    expect(listed).toContain('PUT /admin/strategies')
    expect(listed.filter((r) => r.includes(' /admin')).length).toBeGreaterThan(10)
  })

  it('the write detector sees writes: an accepted order (MySQL) and a strategy change (Redis) each change the snapshot', async () => {
    const start = await snapshot()
    const created = await app.inject({ method: 'POST', url: '/orders', payload: { userId: 1, item: 'detector', quantity: 1, amountCents: 1 } })
    expect(created.statusCode).toBe(201)
    const afterWrite = await snapshot()
    expect(afterWrite).not.toBe(start)
    expect((await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { avalanche: { params: { ttlSeconds: 61 } } } })).statusCode).toBe(200)
    expect(await snapshot()).not.toBe(afterWrite)
    await reset()
  })

  it('every route: always a 2xx or a 4xx with a message, never a 5xx or a crash; a refused request writes nothing', async () => {
    const statuses = new Map<string, Map<number, number>>()
    for (const route of routes) {
      const key = `${route.method} ${route.url}`
      const seen = new Map<number, number>()
      statuses.set(key, seen)
      await fc.assert(
        fc.asyncProperty(requestArb(route), async (req) => {
          const before = await snapshot()
          const res = await app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) })
          seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1)
          expect(res.statusCode, `${req.method} ${req.url} ${req.payload?.slice(0, 200)} → ${res.body.slice(0, 300)}`).toBeLessThan(500)
          if (res.statusCode >= 400) {
            expect(typeof res.json().message).toBe('string')
            expect(res.json().message.length).toBeGreaterThan(0)
            expect(await snapshot(), `${req.method} ${req.url} was refused (${res.statusCode}) but wrote`).toBe(before)
          } else if (route.url.startsWith('/admin')) {
            await reset()
          }
        }),
        { numRuns: RUNS_PER_ROUTE },
      )
    }
    // What the fuzzer reached, per route (a route only ever refused would be fuzzed shallowly).
    console.log(`[fuzz] ${[...statuses].map(([k, m]) => `${k}: ${[...m].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`).join('; ')}`)
  }, 120_000)
})
