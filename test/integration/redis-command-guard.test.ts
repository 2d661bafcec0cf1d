import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedis } from '../../services/order-service/src/redis.js'
import { RedisServer } from '../helpers/redis-server.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

// The command client's deadlines (command timeout, pending cap, silent-socket drop) are kept by one
// watchdog per client instead of ioredis's per-command timers (services/order-service/src/redis.ts).
// Against this file's own redis-server behind a TCP proxy; the shared Redis is never touched.
const TIMEOUT_MS = 100
// The watchdog ticks every tenth of the timeout; slack for a busy 2-core machine.
const LATE_MS = 400

let server: RedisServer
let proxy: TcpProxy
const clients: Redis[] = []

beforeAll(async () => {
  server = await RedisServer.start()
  proxy = await TcpProxy.start({ port: server.port })
})
afterEach(() => {
  proxy.heal()
  for (const c of clients.splice(0)) c.disconnect()
})
afterAll(async () => {
  await proxy?.close()
  await server?.stop()
})

async function client(maxPending = 1000): Promise<Redis> {
  const c = createRedis({ url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: 2000, name: 'guard-test', maxPending })
  c.on('error', () => {})
  clients.push(c)
  if (c.status !== 'ready') await new Promise((resolve) => c.once('ready', resolve))
  return c
}

/** Settles a promise into { error, ms } without throwing. */
async function timed<T>(p: Promise<T>): Promise<{ value?: T; error?: Error; ms: number }> {
  const t0 = performance.now()
  try {
    return { value: await p, ms: performance.now() - t0 }
  } catch (error) {
    return { error: error as Error, ms: performance.now() - t0 }
  }
}

describe('the Redis command guard', () => {
  it('answers commands on a healthy connection, and no command outlives its timeout when Redis goes silent', async () => {
    const c = await client()
    await c.set('guard:k', 'v')
    expect(await c.get('guard:k')).toBe('v')

    proxy.stall()
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(c.get(`guard:${i}`))))
    for (const r of results) {
      expect(r.error?.message).toBe('Command timed out')
      expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 1)
      expect(r.ms).toBeLessThan(TIMEOUT_MS + LATE_MS)
    }
    proxy.resume()
    // The held replies arrive for commands already rejected; the connection goes on working.
    expect(await c.get('guard:k')).toBe('v')
  })

  it('refuses a command at once past maxPending, while the silent connection holds the others', async () => {
    const c = await client(5)
    proxy.stall()
    const held = Array.from({ length: 5 }, (_, i) => timed(c.get(`guard:${i}`)))
    const refused = await timed(c.get('guard:one-too-many'))
    expect(refused.error?.message).toMatch(/5 Redis commands are already waiting/)
    expect(refused.ms).toBeLessThan(TIMEOUT_MS)
    for (const r of await Promise.all(held)) expect(r.error?.message).toBe('Command timed out')
    proxy.resume()
  })

  it('drops a connection that stays silent while commands wait, and reconnects by itself', async () => {
    const c = await client()
    const accepted = proxy.accepted
    proxy.blackhole()
    // socketTimeoutFor(100 ms) = 5 s: keep one command waiting until the watchdog drops the socket.
    const closed = new Promise((resolve) => c.once('close', resolve))
    const waiting = timed(c.get('guard:k'))
    expect((await waiting).error?.message).toBe('Command timed out')
    const t0 = performance.now()
    await closed
    expect(performance.now() - t0).toBeLessThan(5000 + LATE_MS + 1000)
    await new Promise((resolve) => c.once('ready', resolve))
    expect(proxy.accepted).toBeGreaterThan(accepted)
    expect(await c.get('guard:k')).toBe('v')
  }, 20_000)
})
