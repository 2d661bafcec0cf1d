import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { auth } from './app.js'

/** The value of one series in an app's /metrics text (0 when absent). `labels` as printed, e.g. 'outcome="hit"'. */
export async function metric(app: FastifyInstance, name: string, labels = ''): Promise<number> {
  const body = (await app.inject('/metrics')).body
  const prefix = labels ? `${name}{${labels}} ` : `${name} `
  const line = body.split('\n').find((l) => l.startsWith(prefix))
  return line ? Number(line.slice(prefix.length)) : 0
}

/** Several series at once, read from one scrape. */
export async function metrics<K extends string>(app: FastifyInstance, series: Record<K, [string, string?]>): Promise<Record<K, number>> {
  const lines = (await app.inject('/metrics')).body.split('\n')
  const out = {} as Record<K, number>
  for (const [key, [name, labels]] of Object.entries(series) as [K, [string, string?]][]) {
    const prefix = labels ? `${name}{${labels}} ` : `${name} `
    const line = lines.find((l) => l.startsWith(prefix))
    out[key] = line ? Number(line.slice(prefix.length)) : 0
  }
  return out
}

/** Switches the penetration mode (and params) through the admin API; resolves once this replica applied it. */
export async function setPenetration(app: FastifyInstance, mode: string, params: Record<string, number> = {}): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: { penetration: { mode, ...(Object.keys(params).length ? { params } : {}) } } })
  if (res.statusCode !== 200) throw new Error(`strategy switch failed: ${res.statusCode} ${res.body}`)
}

/** Waits until another replica has applied the penetration mode (and built its filter). */
export async function waitForMode(app: FastifyInstance, mode: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (app.strategies.current().penetration.mode !== mode) {
    if (Date.now() > deadline) throw new Error(`mode ${mode} not applied within ${ms} ms`)
    await sleep(10)
  }
}

/** Polls until `check` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`)
    await sleep(20)
  }
}

/** Makes the app's next POST /orders use this id (the service assigns ids; a test of "create this id" needs one known in advance). */
export function forceNextOrderId(app: FastifyInstance, id: string): void {
  const gen = (app.orders as unknown as { ids: { next(): string } }).ids
  const original = gen.next
  gen.next = () => {
    gen.next = original
    return id
  }
}

export const newOrder = { userId: 7, item: 'desk lamp', quantity: 1, amountCents: 4999 }

export async function createOrder(app: FastifyInstance): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/orders', payload: newOrder })
  if (res.statusCode !== 201 && res.statusCode !== 202) throw new Error(`create failed: ${res.statusCode} ${res.body}`)
  return res.json().id as string
}

/** Runs `task(i)` for i in 0..n-1 with at most `concurrency` in flight. */
export async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < n) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker))
}
