import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, createSandbox, TEST_TOKEN, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { cachedVersion, metric, useConsistency, waitFor } from '../helpers/consistency.js'

// The writer of a delayed double delete dies (SIGKILL) between its two deletes. The second delete
// is a job in Redis, so the surviving replica (this test's app) runs it when it is due.
const WRITER = 'test/helpers/double-delete-writer.ts'
const DELAY_MS = 5000
let sandbox: Sandbox
let app: FastifyInstance

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(10)
  app = await build(sandbox)
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

/** Runs the writer replica until it has printed its update, then SIGKILLs it. */
async function updateThenDie(orderId: string): Promise<{ statusCode: number; order: { version: number } }> {
  const env = { ...process.env, MYSQL_URL: sandbox.mysqlUrl, REDIS_URL: sandbox.redisUrl, KEY_PREFIX: sandbox.keyPrefix, ADMIN_TOKEN: TEST_TOKEN, ORDER_ID: orderId }
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = once(child, 'exit')
  try {
    const lines = createInterface({ input: child.stdout })
    const [line] = (await Promise.race([once(lines, 'line'), exited.then(() => Promise.reject(new Error(`writer exited early: ${stderr}`)))])) as [string]
    return JSON.parse(line)
  } finally {
    child.kill('SIGKILL')
    const [, signal] = await exited
    expect(signal).toBe('SIGKILL')
  }
}

describe('delayed-double-delete: the second delete survives the death of its writer', () => {
  it('a writer killed between the deletes: another replica runs the second delete when due', async () => {
    await useConsistency(app, 'delayed-double-delete', { doubleDeleteDelayMs: DELAY_MS })
    const before = (await app.inject('/orders/3')).json()
    expect(await cachedVersion(app, '3')).toBe(before.version)
    const doneBefore = await metric(app, 'cachelab_delayed_deletes_done_total', 'kind="second_delete"')

    const written = await updateThenDie('3')
    expect(written.statusCode).toBe(200)
    expect(written.order.version).toBe(before.version + 1)
    // The writer's first delete ran; its second delete is a job still waiting in Redis.
    expect(await cachedVersion(app, '3')).toBeNull()
    const jobs = await app.redis.zrange(app.delayedDeletes.jobsKey, '0', '-1')
    expect(jobs.filter((m) => m.split('|')[1] === '3')).toHaveLength(1)
    expect(await metric(app, 'cachelab_delayed_deletes_done_total', 'kind="second_delete"')).toBe(doneBefore)

    // What the second delete exists for: a slow reader's fill of the old row, landing in between.
    await app.redis.set(app.keys.order('3'), JSON.stringify(before), 'EX', 300)
    await waitFor('the surviving replica ran the second delete', async () => (await metric(app, 'cachelab_delayed_deletes_done_total', 'kind="second_delete"')) === doneBefore + 1)
    expect(await cachedVersion(app, '3')).toBeNull()
    expect(await app.redis.zcard(app.delayedDeletes.jobsKey)).toBe(0)
    expect((await app.inject('/orders/3')).json().version).toBe(written.order.version)
  })
})
