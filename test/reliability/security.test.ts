import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_TOKEN, buildWithRoutes, countOrders, createSandbox, type FastifyInstance, type Route, type Sandbox } from '../helpers/app.js'

// What the service promises about access and input (SECURITY.md): the admin API refuses every call
// without its token, SQL is built with placeholders only, bodies are size-limited, and the public
// routes can be rate-limited.

/** The routes open without a token. Anything else the app registers must refuse without it. */
const PUBLIC = new Set(['GET /metrics', 'GET /healthz', 'GET /readyz', 'GET /orders/:id', 'POST /orders', 'PUT /orders/:id'])

let sandbox: Sandbox
let app: FastifyInstance
let routes: Route[]

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(5)
  ;({ app, routes } = await buildWithRoutes(sandbox, { BODY_LIMIT_BYTES: 1024 }))
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

function concrete(url: string): string {
  // A plausible value for each parameter: the refusal must come from the token check, not the schema.
  return url.replace(/:fault/g, 'db-latency').replace(/:entryId/g, '1-0').replace(/:([A-Za-z0-9_]+)/g, '1')
}

describe('admin routes refuse without the token', () => {
  const wrong: [string, Record<string, string>][] = [
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-wrong-token' }],
    ['the token with a character missing', { authorization: `Bearer ${TEST_TOKEN.slice(0, -1)}` }],
    ['the token with a character added', { authorization: `Bearer ${TEST_TOKEN}x` }],
    ['the token in another case', { authorization: `Bearer ${TEST_TOKEN.toUpperCase()}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['Basic instead of Bearer', { authorization: `Basic ${Buffer.from(`admin:${TEST_TOKEN}`).toString('base64')}` }],
    ['the raw token without a scheme', { authorization: TEST_TOKEN }],
    ['the token in another header', { 'x-admin-token': TEST_TOKEN }],
  ]

  it('every route the app registers is either on the public list or refuses without the token (enumerated from the app)', async () => {
    const guarded = routes.filter((r) => !PUBLIC.has(`${r.method} ${r.url}`))
    // The list is read from the app: a route added later is checked without touching this test.
    expect(guarded.length).toBeGreaterThan(10)
    expect(guarded.every((r) => r.url.startsWith('/admin/') || r.url === '/admin')).toBe(true)
    const stateBefore = JSON.stringify([app.strategies.current(), app.chaos.list(), await countOrders(app)])
    for (const route of guarded) {
      for (const [what, headers] of wrong) {
        const res = await app.inject({ method: route.method as 'GET', url: concrete(route.url), headers: { ...headers, 'content-type': 'application/json' }, payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}' })
        expect(res.statusCode, `${route.method} ${route.url} with ${what}`).toBe(401)
        expect(res.json()).toMatchObject({ code: 'CACHELAB_UNAUTHORIZED', message: expect.stringMatching(/admin API/) })
      }
      // The token in the query string is not a credential either.
      const q = await app.inject({ method: route.method as 'GET', url: `${concrete(route.url)}?token=${TEST_TOKEN}&access_token=${TEST_TOKEN}` })
      expect(q.statusCode, `${route.method} ${route.url} with the token in the query`).toBe(401)
    }
    // Nothing a refused call could have done happened.
    expect(JSON.stringify([app.strategies.current(), app.chaos.list(), await countOrders(app)])).toBe(stateBefore)
  })

  it('the same routes accept the right token (the refusals above are about the token, not the route)', async () => {
    const gets = routes.filter((r) => r.method === 'GET' && r.url.startsWith('/admin/') && !r.url.includes(':'))
    expect(gets.length).toBeGreaterThan(3)
    for (const route of gets) {
      const res = await app.inject({ method: 'GET', url: route.url, headers: { authorization: `Bearer ${TEST_TOKEN}` } })
      expect(res.statusCode, route.url).toBe(200)
    }
  })

  it('the token is compared in constant time (digests of equal length, timingSafeEqual), never with ===', () => {
    const src = readFileSync('services/order-service/src/routes/admin/auth.ts', 'utf8')
    expect(src).toMatch(/timingSafeEqual\(/)
    expect(src).toMatch(/createHash\('sha256'\)/)
    expect(src).not.toMatch(/(===|!==|==|!=)\s*(token|expected)\b|\b(token|expected)\s*(===|!==|==|!=)/)
  })
})

describe('input limits', () => {
  it('a body over BODY_LIMIT_BYTES gets 413 with a message on public and admin routes, and writes nothing', async () => {
    const before = await countOrders(app)
    const big = JSON.stringify({ userId: 1, item: 'x'.repeat(2000), quantity: 1, amountCents: 1 })
    for (const [method, url, headers] of [
      ['POST', '/orders', {}],
      ['PUT', '/orders/1', {}],
      ['PUT', '/admin/strategies', { authorization: `Bearer ${TEST_TOKEN}` }],
      ['POST', '/admin/chaos', { authorization: `Bearer ${TEST_TOKEN}` }],
    ] as const) {
      const res = await app.inject({ method, url, headers: { ...headers, 'content-type': 'application/json' }, payload: big })
      expect(res.statusCode, `${method} ${url}`).toBe(413)
      expect(res.json().message).toMatch(/too large/i)
    }
    expect(await countOrders(app)).toBe(before)
  })
})

describe('SQL is built with placeholders only (static)', () => {
  /**
   * Every interpolation into an SQL-looking template literal in services/, with why it is safe.
   * A new one fails this test until it is reviewed and listed; a value must go through `?`.
   */
  const REVIEWED: Record<string, string> = {
    COLUMNS: 'a constant list of column names',
    "ids.map(() => '?').join(', ')": 'placeholders only, one per value',
    "sets.join(', ')": "fixed 'column = ?' fragments chosen in code; the values are parameters",
    onDup: 'one of two constant clauses chosen in code',
    'databaseOf(url)': 'an identifier (cannot be a placeholder), checked against ^[A-Za-z0-9_]{1,64}$ by databaseOf',
  }
  const SQL = /\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|REPLACE|SET|WHERE|VALUES)\b/

  function tsFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : tsFiles(path)
      return path.endsWith('.ts') ? [path] : []
    })
  }

  function findings(): { interpolations: { file: string; expr: string }[]; concatenations: { file: string; text: string }[] } {
    const interpolations: { file: string; expr: string }[] = []
    const concatenations: { file: string; text: string }[] = []
    for (const file of tsFiles('services')) {
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
      const visit = (node: ts.Node): void => {
        if (ts.isTemplateExpression(node) && SQL.test(node.head.text + node.templateSpans.map((s) => s.literal.text).join(' '))) {
          for (const span of node.templateSpans) interpolations.push({ file, expr: span.expression.getText(sf) })
        }
        if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
          const sides = [node.left, node.right]
          if (sides.some((s) => (ts.isStringLiteral(s) || ts.isNoSubstitutionTemplateLiteral(s)) && SQL.test(s.text) && /^\s*[A-Z]/.test(s.text))) concatenations.push({ file, text: node.getText(sf) })
        }
        ts.forEachChild(node, visit)
      }
      visit(sf)
    }
    return { interpolations, concatenations }
  }

  it('no value is interpolated or concatenated into SQL: every interpolation is a reviewed, value-free one', () => {
    const { interpolations, concatenations } = findings()
    expect(interpolations.length).toBeGreaterThan(0) // the scan sees the repository's queries
    expect(interpolations.filter((i) => !(i.expr in REVIEWED))).toEqual([])
    expect(concatenations).toEqual([])
  })

  it('the reviewed list has no stale entry', () => {
    const seen = new Set(findings().interpolations.map((i) => i.expr))
    expect(Object.keys(REVIEWED).filter((k) => !seen.has(k))).toEqual([])
  })

  it('query()/execute() called directly with an SQL template: only reviewed, value-free interpolations', () => {
    // A call like pool.query(`... ${x} ...`) without parameters would be the classic injection.
    const offenders: string[] = []
    for (const file of tsFiles('services')) {
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
      const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && ['query', 'execute'].includes(node.expression.name.text)) {
          const [sql] = node.arguments
          if (sql && ts.isTemplateExpression(sql)) {
            const exprs = sql.templateSpans.map((s) => s.expression.getText(sf))
            if (exprs.some((e) => !(e in REVIEWED))) offenders.push(`${file}: ${node.getText(sf).slice(0, 120)}`)
          }
        }
        ts.forEachChild(node, visit)
      }
      visit(sf)
    }
    expect(offenders).toEqual([])
  })
})
