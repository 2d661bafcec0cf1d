import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { OrderRepository } from '../../services/order-service/src/db/order-repository.js'
import { findMode } from '../../services/order-service/src/strategies/catalogue.js'
import type { ConsistencyStrategy } from '../../services/order-service/src/strategies/types.js'
import { auth, build, createSandbox, type FastifyInstance, type Sandbox } from '../helpers/app.js'
import { cachedVersion, chaosOff, chaosOn, dbVersion, deferred, metric, useConsistency, waitFor } from '../helpers/consistency.js'

// Deterministic reproductions of the stale-set race, one per consistency mode, with ordered steps:
// a reader loads the row, the race-window fault holds its cache fill, a write commits meanwhile,
// then the fill lands. What stays in the cache afterwards is the mode's answer to the race.
// Each attempt checks that its steps really happened in that order (from the service's own
// counters); on a machine too busy for the window, the next attempt uses a wider one.
let sandbox: Sandbox
let app: FastifyInstance
const WINDOWS_MS = [400, 800, 1600, 3200, 6400]

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(60)
  app = await build(sandbox)
})
afterEach(async () => {
  await chaosOff(app)
})
afterAll(async () => {
  await app?.close()
  await sandbox?.drop()
})

/** Runs `attempt` with wider and wider windows until its steps happened in order (it returns a result). */
async function inOrder<T>(what: string, attempt: (windowMs: number) => Promise<T | undefined>): Promise<T> {
  for (const ms of WINDOWS_MS) {
    const result = await attempt(ms)
    if (result !== undefined) return result
  }
  throw new Error(`${what}: never in order, even with a ${WINDOWS_MS.at(-1)} ms window`)
}

async function fills(): Promise<number> {
  return (await metric(app, 'cachelab_cache_fills_total', 'result="ok"')) + (await metric(app, 'cachelab_cache_fills_total', 'result="refused"'))
}

interface RaceSteps {
  /** Runs before each attempt, with its window (e.g. to size a delay after it). */
  prepare?: (windowMs: number) => Promise<void>
  /** A further order check after the fill landed. */
  stillInOrder?: () => Promise<boolean>
}

/**
 * The slow-reader race on order `id`: start a read on an empty cache, wait until its MySQL load has
 * returned (its fill is now held by the race window), update the order while the fill is held, let
 * the fill land.
 */
function slowReaderRace(id: string, steps: RaceSteps = {}) {
  return inOrder('the write completed while the fill was held', async (windowMs) => {
    await steps.prepare?.(windowMs)
    await chaosOn(app, 'race-window', { ms: windowMs })
    await app.redis.del(app.keys.order(id))
    const loadsBefore = await metric(app, 'cachelab_db_query_duration_seconds_count', 'operation="select"')
    const fillsBefore = await fills()
    const read = Promise.resolve(app.inject(`/orders/${id}`))
    await waitFor('the reader loaded the row', async () => (await metric(app, 'cachelab_db_query_duration_seconds_count', 'operation="select"')) > loadsBefore)
    const put = await app.inject({ method: 'PUT', url: `/orders/${id}`, payload: { quantity: 9 } })
    expect(put.statusCode, put.body).toBe(200)
    const fillHeldThroughWrite = (await fills()) === fillsBefore
    const res = await read
    expect(res.statusCode).toBe(200)
    if (!fillHeldThroughWrite || (steps.stillInOrder && !(await steps.stillInOrder()))) return undefined
    return { readVersion: res.json().version as number, writtenVersion: put.json().version as number }
  })
}

async function pendingJobs(): Promise<number> {
  return (await app.delayedDeletes.status()).pending
}

describe('the slow-reader race (race-window fault), per mode', () => {
  for (const mode of ['update-then-delete', 'delete-then-update', 'update-then-set']) {
    it(`${mode}: the old row is put back after the write and stays`, async () => {
      await useConsistency(app, mode)
      const id = { 'update-then-delete': '11', 'delete-then-update': '12', 'update-then-set': '13' }[mode]!
      const { readVersion, writtenVersion } = await slowReaderRace(id)
      expect(readVersion).toBe(writtenVersion - 1)
      expect(await dbVersion(app, id)).toBe(writtenVersion)
      expect(await cachedVersion(app, id)).toBe(readVersion)
      // A read that starts after the write was acknowledged is served the old version: a stale read.
      await chaosOff(app)
      expect((await app.inject(`/orders/${id}`)).json().version).toBe(readVersion)
    })
  }

  it('delayed-double-delete: stale until the second delete, fresh after it', async () => {
    const id = '14'
    const done = () => metric(app, 'cachelab_delayed_deletes_done_total', 'kind="second_delete"')
    let doneBefore = 0
    const { readVersion, writtenVersion } = await slowReaderRace(id, {
      prepare: async (windowMs) => {
        await waitFor('no delete job left by an earlier attempt', async () => (await pendingJobs()) === 0)
        doneBefore = await done()
        // The delay is longer than the window: the fill lands between the two deletes.
        await useConsistency(app, 'delayed-double-delete', { doubleDeleteDelayMs: 2 * windowMs + 500 })
      },
      stillInOrder: async () => (await done()) === doneBefore,
    })
    expect(await cachedVersion(app, id)).toBe(readVersion)
    await waitFor('the second delete ran', async () => (await done()) === doneBefore + 1)
    expect(await cachedVersion(app, id)).toBeNull()
    expect((await app.inject(`/orders/${id}`)).json().version).toBe(writtenVersion)
    expect(await cachedVersion(app, id)).toBe(writtenVersion)
    expect(await metric(app, 'cachelab_delayed_deletes_pending')).toBe(0)
  })

  it('versioned: the older fill is refused; the cache never holds the old version', async () => {
    await useConsistency(app, 'versioned')
    const id = '15'
    const refusedBefore = await metric(app, 'cachelab_cache_fills_total', 'result="refused"')
    const { readVersion, writtenVersion } = await slowReaderRace(id)
    expect(readVersion).toBe(writtenVersion - 1)
    expect(await cachedVersion(app, id)).toBe(writtenVersion)
    expect(await metric(app, 'cachelab_cache_fills_total', 'result="refused"')).toBe(refusedBefore + 1)
    expect((await app.inject(`/orders/${id}`)).json().version).toBe(writtenVersion)
  })
})

describe('a reader arriving while the write is in flight (db-latency on "update": the commit is held)', () => {
  /**
   * Starts an update whose UPDATE statement is held; once it is in flight, reads the order. In
   * order: the read loaded the old row and its fill landed before the UPDATE completed.
   */
  function readDuringWrite(id: string) {
    return inOrder('the read completed while the UPDATE was held', async (windowMs) => {
      await app.redis.del(app.keys.order(id))
      await chaosOn(app, 'db-latency', { ms: windowMs, operations: ['update'] })
      const updatesSent = await metric(app, 'cachelab_db_queries_total', 'operation="update"')
      const updatesDone = await metric(app, 'cachelab_db_query_duration_seconds_count', 'operation="update"')
      const versionBefore = await dbVersion(app, id)
      const put = Promise.resolve(app.inject({ method: 'PUT', url: `/orders/${id}`, payload: { quantity: 4 } }))
      await waitFor('the UPDATE is in flight', async () => (await metric(app, 'cachelab_db_queries_total', 'operation="update"')) > updatesSent)
      const read = await app.inject(`/orders/${id}`)
      const updateStillHeld = (await metric(app, 'cachelab_db_query_duration_seconds_count', 'operation="update"')) === updatesDone
      const written = await put
      await chaosOff(app)
      expect(written.statusCode, written.body).toBe(200)
      const readVersion = read.json().version as number
      if (!updateStillHeld || readVersion !== versionBefore) return undefined
      return { readVersion, writtenVersion: written.json().version as number }
    })
  }

  it('delete-then-update: the reader caches the old row after the delete; it stays', async () => {
    await useConsistency(app, 'delete-then-update')
    const { readVersion, writtenVersion } = await readDuringWrite('21')
    expect(readVersion).toBe(writtenVersion - 1)
    expect(await cachedVersion(app, '21')).toBe(readVersion)
  })

  it('update-then-delete: the same reader is harmless, the delete comes after the commit', async () => {
    await useConsistency(app, 'update-then-delete')
    const { readVersion, writtenVersion } = await readDuringWrite('22')
    expect(readVersion).toBe(writtenVersion - 1)
    expect(await cachedVersion(app, '22')).toBeNull()
  })

  it('delayed-double-delete: the second delete removes what the reader cached', async () => {
    await useConsistency(app, 'delayed-double-delete', { doubleDeleteDelayMs: 200 })
    const doneBefore = await metric(app, 'cachelab_delayed_deletes_done_total', 'kind="second_delete"')
    const { readVersion, writtenVersion } = await readDuringWrite('23')
    expect(readVersion).toBe(writtenVersion - 1)
    await waitFor('every second delete ran', async () => (await pendingJobs()) === 0)
    expect(await metric(app, 'cachelab_delayed_deletes_done_total', 'kind="second_delete"')).toBeGreaterThan(doneBefore)
    expect(await cachedVersion(app, '23')).toBeNull()
  })
})

describe('two writers (update-then-set and versioned)', () => {
  /**
   * Writer 1 commits and reads its version, then is held before its cache write; writer 2 commits,
   * reads and writes the newer version; then writer 1's write lands.
   */
  async function twoWriters(mode: string, id: string) {
    await useConsistency(app, mode)
    const committed = deferred()
    const release = deferred()
    const heldRepo = Object.create(app.repo) as OrderRepository
    heldRepo.update = async (orderId, patch) => {
      const order = await app.repo.update(orderId, patch)
      committed.resolve()
      await release.promise
      return order
    }
    const def = findMode('consistency', mode)!
    const writer1 = (await def.create({ ...app.strategyContext, repo: heldRepo }, app.strategies.current().consistency.params)) as ConsistencyStrategy
    const first = writer1.update(id, { quantity: 2 }, app.orders.cacheWriter)
    await committed.promise
    const second = await app.inject({ method: 'PUT', url: `/orders/${id}`, payload: { quantity: 3 } })
    expect(second.statusCode).toBe(200)
    release.resolve()
    const firstOrder = (await first)!
    return { firstVersion: firstOrder.version, secondVersion: second.json().version as number }
  }

  it('update-then-set: the earlier commit lands last and the cache keeps it', async () => {
    const { firstVersion, secondVersion } = await twoWriters('update-then-set', '31')
    expect(secondVersion).toBe(firstVersion + 1)
    expect(await dbVersion(app, '31')).toBe(secondVersion)
    expect(await cachedVersion(app, '31')).toBe(firstVersion)
  })

  it('versioned: the late, older write is refused', async () => {
    const refusedBefore = await metric(app, 'cachelab_consistency_cache_sets_total', 'result="refused"')
    const { firstVersion, secondVersion } = await twoWriters('versioned', '32')
    expect(secondVersion).toBe(firstVersion + 1)
    expect(await cachedVersion(app, '32')).toBe(secondVersion)
    expect(await metric(app, 'cachelab_consistency_cache_sets_total', 'result="refused"')).toBe(refusedBefore + 1)
  })
})

describe('every consistency mode, without a race (contract)', () => {
  for (const mode of ['update-then-delete', 'update-then-set', 'delete-then-update', 'delayed-double-delete', 'versioned']) {
    it(`${mode}: an update is read back at once and nothing stale is left`, async () => {
      await useConsistency(app, mode, mode === 'delayed-double-delete' ? { doubleDeleteDelayMs: 100 } : {})
      const id = String(40 + ['update-then-delete', 'update-then-set', 'delete-then-update', 'delayed-double-delete', 'versioned'].indexOf(mode))
      const before = (await app.inject(`/orders/${id}`)).json()
      expect(await cachedVersion(app, id)).toBe(before.version)
      const put = await app.inject({ method: 'PUT', url: `/orders/${id}`, payload: { status: 'paid', quantity: 5 } })
      expect(put.json()).toMatchObject({ id, status: 'paid', quantity: 5, version: before.version + 1 })
      expect((await app.inject(`/orders/${id}`)).json()).toEqual(put.json())
      await waitFor('no delete job pending', async () => (await app.delayedDeletes.status()).pending === 0)
      expect([null, before.version + 1]).toContain(await cachedVersion(app, id))
      // An update of an order that does not exist writes nothing and leaves no job behind.
      expect((await app.inject({ method: 'PUT', url: '/orders/999', payload: { quantity: 1 } })).statusCode).toBe(404)
      expect((await app.delayedDeletes.status()).pending).toBe(0)
    })
  }
})

describe('the race-window fault', () => {
  it('is listed in the catalogue, validated, and visible as a metric while active', async () => {
    const bad = await app.inject({ method: 'POST', url: '/admin/chaos', headers: auth, payload: { fault: 'race-window', params: { ms: 0 } } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toMatch(/race-window: ms/)
    await chaosOn(app, 'race-window', { ms: 50 })
    expect(await metric(app, 'cachelab_chaos_fault_active', 'fault="race-window"')).toBe(1)
    await chaosOff(app)
    expect(await metric(app, 'cachelab_chaos_fault_active', 'fault="race-window"')).toBe(0)
  })
})

describe('versioned: the compare inside Redis', () => {
  it('lands a value unless the cached one is newer, whatever the entry format; keeps the TTL policy', async () => {
    const versioned = (await findMode('consistency', 'versioned')!.create(app.strategyContext, app.strategies.current().consistency.params)) as ConsistencyStrategy
    const key = app.keys.order('50')
    // An item that spells a version must not be taken for one.
    const order = (version: number) => JSON.stringify({ id: '50', item: '"version":99', version })
    await app.redis.set(key, order(3))
    expect(await versioned.fill!('50', order(2), 60)).toBe(false)
    expect(await app.redis.get(key)).toBe(order(3))
    expect(await versioned.fill!('50', order(3), 60)).toBe(true) // equal: a logical-expiry refresh
    expect(await versioned.fill!('50', order(4), 60)).toBe(true)
    expect(await app.redis.get(key)).toBe(order(4))
    const ttl = await app.redis.ttl(key)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(60)

    await app.redis.set(key, `@${Date.now() + 60_000}|${order(5)}`) // a logical-expiry envelope
    expect(await versioned.fill!('50', order(4), null)).toBe(false)
    expect(await versioned.fill!('50', `@${Date.now() + 60_000}|${order(6)}`, null)).toBe(true)
    expect(await app.redis.ttl(key)).toBe(-1) // no TTL asked, none set

    await app.redis.set(key, '!') // the "not found" sentinel has no version: replaced
    expect(await versioned.fill!('50', order(1), 60)).toBe(true)
    await app.redis.del(key)
  })
})
