import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { auth } from './app.js'

/** Polls until `check` passes (or throws after `ms`). */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`${what} not reached within ${ms} ms`)
    await sleep(10)
  }
}

/** Sets strategies through the admin API of the first app and waits until every replica applied them. */
export async function applyStrategies(apps: FastifyInstance[], patch: Record<string, { mode?: string; params?: Record<string, unknown> }>): Promise<void> {
  const res = await apps[0]!.inject({ method: 'PUT', url: '/admin/strategies', headers: auth, payload: patch })
  if (res.statusCode !== 200) throw new Error(`PUT /admin/strategies: ${res.statusCode} ${res.body}`)
  const want = JSON.stringify(res.json().strategies)
  await eventually(() => apps.every((a) => JSON.stringify(a.strategies.current()) === want), 5000, 'strategy state on every replica')
}

/** Switches a fault on (or off with null) for every replica and waits until each applies it. */
export async function setFault(apps: FastifyInstance[], fault: string, params: Record<string, unknown> | null): Promise<void> {
  const res =
    params === null
      ? await apps[0]!.inject({ method: 'DELETE', url: `/admin/chaos/${fault}`, headers: auth })
      : await apps[0]!.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault, params } })
  if (res.statusCode !== 200) throw new Error(`chaos ${fault}: ${res.statusCode} ${res.body}`)
  await eventually(() => apps.every((a) => a.chaos.list().some((f) => f.fault === fault) === (params !== null)), 5000, `fault ${fault} on every replica`)
}

/**
 * Config for tests that count database loads exactly. The machine is shared: a Redis reply or a
 * MySQL connect delayed by load must not turn into the read path's (correct, but unprotected)
 * fallback to MySQL, which such a test would see as an extra load.
 */
export const PATIENT_TIMEOUTS = { REDIS_COMMAND_TIMEOUT_MS: 5000, MYSQL_CONNECT_TIMEOUT_MS: 10_000 } as const
