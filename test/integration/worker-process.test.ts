import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { scanDelete } from '../../services/order-service/src/cache/scan.js'
import { auth, build, countOrders, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { WorkerProcess, burst, rowsPerId, setWrites, textMetric, waitFor } from '../helpers/worker.js'

// The worker as its own process (npm run worker): crashed with SIGKILL mid-burst, restarted, and
// every accepted order ends up in MySQL exactly once. The service runs in this process.
let sandbox: Sandbox
let app: FastifyInstance
const workers: WorkerProcess[] = []

// Short idle timeout so a crashed worker's messages are reclaimed within the test.
const WORKER_ENV = { WORKER_CLAIM_IDLE_MS: '1500', MYSQL_QUERY_TIMEOUT_MS: '1000', WORKER_RETRY_BASE_MS: '50', WORKER_RETRY_MAX_MS: '500' }

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(0)
  app = await build(sandbox)
})
afterEach(async () => {
  for (const w of workers.splice(0)) await w.kill('SIGKILL')
  await app.inject({ method: 'DELETE', url: '/admin/chaos', headers: auth })
})
afterAll(async () => {
  await scanDelete(app.redis, `${sandbox.keyPrefix}*`)
  await app?.close()
  await sandbox?.drop()
})

async function spawnWorker(): Promise<WorkerProcess> {
  const w = await WorkerProcess.spawn(sandbox, WORKER_ENV)
  workers.push(w)
  return w
}

const stats = () => app.writeQueue.stats()

describe('order worker process', () => {
  it('refuses an inconsistent config with a message naming it, exit code 1', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/order-worker/src/main.ts'], {
      env: { ...process.env, WORKER_CLAIM_IDLE_MS: '1000', WORKER_RETRY_MAX_MS: '500', MYSQL_QUERY_TIMEOUT_MS: '5000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stderr.on('data', (d) => (output += d))
    const [code] = await once(child, 'exit')
    expect(code).toBe(1)
    expect(output).toMatch(/invalid configuration: WORKER_CLAIM_IDLE_MS \(1000\) must exceed MYSQL_QUERY_TIMEOUT_MS \(5000\)/)
  })

  it('SIGKILLed mid-burst and started again: every accepted order in MySQL exactly once', { timeout: 120_000 }, async () => {
    await setWrites(app, 'queue', { queueRatePerSec: 100 })
    const first = await spawnWorker()
    const firstConsumer = (await first.health()).consumer
    // The burst arrives in waves while the worker drains; it is killed in the middle.
    const waves = (async () => {
      const accepted: string[] = []
      for (let i = 0; i < 8; i++) {
        accepted.push(...(await burst(app, 60)).accepted)
        await sleep(150)
      }
      return accepted
    })()
    await waitFor('the first worker to write some orders', async () => textMetric(await first.metrics(), 'cachelab_queue_messages_total', 'result="acked"') >= 30)
    const killed = await first.kill('SIGKILL')
    expect(killed.signal).toBe('SIGKILL')
    const accepted = await waves
    expect(accepted.length).toBeGreaterThan(0)
    expect((await stats()).depth).toBeGreaterThan(0)
    const inFlightAtKill = (await app.writeQueue.pendingOf(firstConsumer, 1000)).length

    const second = await spawnWorker()
    await waitFor('the queue to drain', async () => (await stats()).depth === 0, 60_000, 100)
    expect(await rowsPerId(app, accepted)).toEqual({ lost: [], duplicated: [] })
    expect(await countOrders(app)).toBe(accepted.length)
    expect((await stats()).deadLetters).toBe(0)
    // What the killed worker had in flight was taken over, not skipped.
    expect(textMetric(await second.metrics(), 'cachelab_queue_reclaimed_total')).toBeGreaterThanOrEqual(inFlightAtKill)

    const stopped = await second.kill('SIGTERM')
    expect(stopped.code).toBe(0)
  })

  it('the worker-kill chaos action crashes a worker holding messages; the next worker reclaims them: none lost, none doubled', { timeout: 120_000 }, async () => {
    const rowsBefore = await countOrders(app)
    await setWrites(app, 'queue', { queueRatePerSec: 100 })
    // MySQL writes blocked: the worker holds what it read, unacknowledged.
    await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'db-block-writes', params: { operations: ['insert'] } } })
    const first = await spawnWorker()
    const consumer = (await first.health()).consumer
    const { accepted } = await burst(app, 40)
    await waitFor('the worker to hold messages', async () => (await app.writeQueue.pendingOf(consumer, 100)).length > 0)
    const held = (await app.writeQueue.pendingOf(consumer, 100)).length

    const res = await app.inject({ method: 'POST', url: '/admin/chaos/actions', headers: auth, payload: { action: 'worker-kill' } })
    expect(res.statusCode, res.body).toBe(200)
    const exit = await first.waitExit()
    expect(exit.signal).toBe('SIGKILL')
    expect(first.output).toMatch(/worker-kill chaos action received, sending SIGKILL/)
    // Its messages are still pending under its name: nothing was acknowledged, nothing dropped.
    expect((await app.writeQueue.pendingOf(consumer, 100)).length).toBe(held)

    await app.inject({ method: 'DELETE', url: '/admin/chaos/db-block-writes', headers: auth })
    const second = await spawnWorker()
    await waitFor('the queue to drain', async () => (await stats()).depth === 0, 60_000, 100)
    expect(textMetric(await second.metrics(), 'cachelab_queue_reclaimed_total')).toBeGreaterThanOrEqual(held)
    expect(await rowsPerId(app, accepted)).toEqual({ lost: [], duplicated: [] })
    expect(await countOrders(app)).toBe(rowsBefore + accepted.length)
    // An earlier kill request does not kill a worker started after it.
    await sleep(600)
    expect(second.exited).toBe(false)
    expect((await second.health()).state).toBe('running')
  })
})
