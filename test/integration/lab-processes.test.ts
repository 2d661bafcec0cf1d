import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { ProcessManager } from '../../scenarios/runner/processes.js'
import { scrape, valueAt } from '../../scenarios/runner/prom.js'
import { SERVICE, SERVICE_ENTRY } from '../../scenarios/runner/target.js'
import { createSandbox, TEST_TOKEN, type Sandbox } from '../helpers/app.js'

// The runner's process model: service replicas and other processes as children, each its own
// event loop, signalled and restarted by chaos events, all stopped at the end.
let sandbox: Sandbox
const pm = new ProcessManager()

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(10)
})
afterAll(async () => {
  await pm.stopAll()
  await sandbox?.drop()
})

describe('lab process manager', { timeout: 400_000 }, () => {
  it('starts two service replicas and a worker-like process, kills and restarts them, stops them all', async () => {
    const env = { MYSQL_URL: sandbox.mysqlUrl, REDIS_URL: sandbox.redisUrl, KEY_PREFIX: sandbox.keyPrefix, ADMIN_TOKEN: TEST_TOKEN, LOG_LEVEL: 'warn' }
    await Promise.all([
      pm.start({ name: SERVICE, entry: SERVICE_ENTRY, replicas: 2, env, http: true }),
      pm.start({ name: 'worker', entry: 'test/fixtures/idle-process.ts', replicas: 1, env: {}, http: false }),
    ])
    const urls = pm.urls(SERVICE)
    expect(urls).toHaveLength(2)
    expect(pm.metricsUrls()).toEqual(urls.map((u) => `${u}/metrics`))
    for (const u of urls) expect((await request(`${u}/orders/1`)).statusCode).toBe(200)
    // Both replicas' metrics are summed: one lookup each.
    expect(valueAt(await scrape(pm.metricsUrls()), 'cachelab_cache_lookups_total')).toBe(2)

    expect(pm.running('worker')).toBe(true)
    await pm.signal('worker', 'SIGKILL')
    expect(pm.running('worker')).toBe(false)
    await pm.signal('worker', 'restart')
    expect(pm.running('worker')).toBe(true)

    // A restarted replica comes back on the same port (the load and the scrapes keep their URL).
    await pm.signal(SERVICE, 'restart')
    expect(pm.urls(SERVICE)).toEqual(urls)
    for (const u of urls) expect((await request(`${u}/healthz`)).statusCode).toBe(200)
    await expect(pm.signal('nope', 'SIGTERM')).rejects.toThrow('no process "nope"; started: order-service, worker')

    await pm.stopAll()
    expect(pm.running(SERVICE)).toBe(false)
    expect(pm.running('worker')).toBe(false)
  })
})
