import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { OwnRedisServer } from '../../scenarios/runner/redis-server.js'

// deployment.redis "own": the run's redis-server, which phase events freeze, thaw and restart
// (process "redis") instead of touching the machine's shared server.
let server: OwnRedisServer | undefined
const clients: Redis[] = []

function client(url: string): Redis {
  const c = new Redis(url, { commandTimeout: 300, maxRetriesPerRequest: 0, retryStrategy: (n) => Math.min(n * 50, 200) })
  c.on('error', () => {})
  clients.push(c)
  return c
}

afterAll(async () => {
  for (const c of clients) c.disconnect()
  await server?.close()
})

describe("the run's own redis-server", { timeout: 30_000 }, () => {
  it('starts on a free port, freezes on SIGSTOP (commands wait, data kept), thaws on SIGCONT, restarts empty, and closes', async () => {
    server = await OwnRedisServer.start()
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    const redis = client(server.url)
    await redis.set('k', 'v')

    await server.signal('SIGSTOP')
    expect(server.running()).toBe(true)
    await expect(redis.get('k')).rejects.toThrow(/timed out/i)
    await server.signal('SIGCONT')
    expect(await redis.get('k')).toBe('v')

    // A restart is a new, empty server on the same port; clients reconnect by themselves.
    await server.signal('restart')
    await expect.poll(() => redis.get('k').catch(() => 'error'), { timeout: 5000 }).toBeNull()

    await server.signal('SIGSTOP')
    // Closing works on a frozen server too (SIGKILL), and nothing is left listening.
    await server.close()
    expect(server.running()).toBe(false)
    const probe = client(server.url)
    await expect(probe.ping()).rejects.toThrow()
  })
})
