import { setTimeout as sleep } from 'node:timers/promises'
import { auth, type FastifyInstance } from './app.js'

export { metric } from './scrape.js'

/** Polls until `check` passes; fails with `what` after `ms`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms: ${what}`)
    await sleep(10)
  }
}

/** Switches the consistency mode (and parameters) for every replica of the sandbox. */
export async function useConsistency(app: FastifyInstance, mode: string, params: Record<string, number> = {}): Promise<void> {
  const payload = { consistency: Object.keys(params).length > 0 ? { mode, params } : { mode } }
  const res = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload })
  if (res.statusCode !== 200) throw new Error(`switching to ${mode}: ${res.statusCode} ${res.body}`)
}

export async function chaosOn(app: FastifyInstance, fault: string, params: Record<string, unknown>): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault, params } })
  if (res.statusCode !== 200) throw new Error(`chaos ${fault}: ${res.statusCode} ${res.body}`)
}

export async function chaosOff(app: FastifyInstance): Promise<void> {
  await app.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })
}

/** The version of the order cached under `id`, or null when nothing is cached. */
export async function cachedVersion(app: FastifyInstance, id: string): Promise<number | null> {
  const raw = await app.redis.get(app.keys.order(id))
  if (raw === null) return null
  return (JSON.parse(raw.slice(raw.indexOf('{'))) as { version: number }).version
}

/** The order's version in MySQL. */
export async function dbVersion(app: FastifyInstance, id: string): Promise<number> {
  const [rows] = await app.mysql.query('SELECT version FROM orders WHERE id = ?', [id])
  return Number((rows as { version: number }[])[0]!.version)
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}
