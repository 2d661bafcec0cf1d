import { setTimeout as sleep } from 'node:timers/promises'
import { buildBento, buildOurs, loaderFor, type Bento } from './lib/library.js'

// One process of the hot-key expiry benchmark (bench/sections/stampede.ts starts two per side).
// It builds our read path (CONTENDER=ours) or bentocache on its Redis tier (CONTENDER=bentocache)
// and, on the parent's signal, sends BURST concurrent reads of the hot key at the same instant.
// DB loads are counted by our repository's select counter, through which both sides load.

type Msg = { type: 'setup'; mode: string; dbLatencyMs: number } | { type: 'state' } | { type: 'expire' } | { type: 'burst'; at: number } | { type: 'close' }

const env = (name: string) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const contender = env('CONTENDER')
const hotId = env('HOT_ID')
const burst = Number(env('BURST'))
// A burst keeps the event loop busy; on a loaded machine a reply can outlive the default 250 ms
// Redis command timeout, and the read then falls back to MySQL: a load the breakdown mode did
// not decide. A long timeout keeps this a measurement of the modes.
const app = await buildOurs({ redisUrl: env('REDIS_URL'), mysqlUrl: env('MYSQL_URL'), prefix: env('KEY_PREFIX'), adminToken: env('ADMIN_TOKEN'), redisCommandTimeoutMs: 5000 })
const bento: Bento | undefined = contender === 'bentocache' ? buildBento({ redisUrl: env('REDIS_URL'), prefix: env('BENTO_PREFIX') }) : undefined
const load = loaderFor(app)
const read = bento ? () => bento.cache.getOrSet({ key: hotId, factory: () => load(hotId) }) : () => app.orders.get(hotId)

const selects = async () => (await app.metrics.dbQueries.get()).values.find((v) => v.labels.operation === 'select')?.value ?? 0
const send = (m: Record<string, unknown>) => process.send!(m)

process.on('message', async (msg: Msg) => {
  try {
    if (msg.type === 'setup') {
      // Shared state: set once (by one worker) for every process of this prefix.
      await app.strategies.update({ breakdown: { mode: msg.mode } })
      await app.chaos.activate('db-latency', { ms: msg.dbLatencyMs, operations: ['select'] })
      send({ type: 'done' })
    } else if (msg.type === 'state') {
      // The other process applies shared state on its broadcast: the parent waits for both.
      send({ type: 'done', mode: app.strategies.current().breakdown.mode, faults: app.chaos.list().map((f) => f.fault) })
    } else if (msg.type === 'expire') {
      if (bento) await bento.cache.delete({ key: hotId })
      else await app.cache.del(hotId, 'bench')
      send({ type: 'done' })
    } else if (msg.type === 'burst') {
      const before = await selects()
      await sleep(Math.max(0, msg.at - Date.now()))
      const answers = await Promise.allSettled(Array.from({ length: burst }, read))
      const expected = await load(hotId)
      const loads = (await selects()) - before - 1 // minus the check just above
      const wrong = answers.filter((a) => a.status === 'fulfilled' && a.value !== expected).length
      const failed = answers.filter((a) => a.status === 'rejected')
      send({ type: 'done', loads, wrong, failed: failed.length, error: failed[0] ? String((failed[0] as PromiseRejectedResult).reason) : undefined })
    } else if (msg.type === 'close') {
      await app.chaos.deactivate()
      await bento?.close()
      await app.close()
      process.exit(0)
    }
  } catch (err) {
    send({ type: 'error', message: (err as Error).message })
  }
})
send({ type: 'ready' })
