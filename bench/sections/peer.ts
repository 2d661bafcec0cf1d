import type { Redis } from 'ioredis'
import { scanDelete } from '../../services/order-service/src/cache/scan.js'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import { closedLoop, type LoopResult } from '../lib/closed-loop.js'
import type { Fixture } from '../lib/fixture.js'
import { buildBento, buildOurs, loaderFor } from '../lib/library.js'
import { withGoal, type Figure } from '../lib/report.js'
import { rotate, summarize } from '../lib/stats.js'

export interface PeerSettings {
  rounds: number
  durationSec: number
  /** Each measurement is this many slices alternating with the other side's (A B B A...). */
  slices: number
  /** Orders 1..keys are the hit key mix. */
  keys: number
  /** Orders keys+1..keys+missPool are loaded from MySQL once per miss measurement. */
  missPool: number
  concurrency: number
}

export interface PeerReport {
  figures: Figure[]
  /** Our breakdown mode in the miss rounds: `mutex` when the catalogue has it. */
  oursMissMode: string
  /** Redis commands each side sends per read (counted on its client, outside the timed rounds). */
  redisCommandsPerRead: { hit: { ours: number; bentocache: number }; miss: { ours: number; bentocache: number } }
  /** Our reads that fell back to MySQL during the timed rounds because Redis timed out (0 on a calm machine). */
  oursFallbacksToMysql: number
  rounds: { round: number; kind: 'hit' | 'miss'; contender: 'ours' | 'bentocache'; result: LoopResult }[]
}

/** Redis commands a client sends per call of `fn`, over `n` sequential calls (counted by wrapping its sendCommand). */
async function commandsPerCall(redis: Redis, n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let sent = 0
  const original = redis.sendCommand
  redis.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    sent++
    return original.apply(this, args)
  } as Redis['sendCommand']
  try {
    for (let i = 0; i < n; i++) await fn(i)
  } finally {
    redis.sendCommand = original
  }
  return sent / n
}

/** The breakdown mode that protects against stampedes: mutex when it exists, else the baseline. */
export function stampedeMode(): string {
  return MODES.breakdown.some((m) => m.name === 'mutex') ? 'mutex' : MODES.breakdown[0]!.name
}

/**
 * Section 4, ops/s: our read-through function (OrderService.get, in process, no HTTP) against
 * bentocache's getOrSet with only its Redis tier, same Redis server, same payload (the order's
 * JSON string, loaded by the same repository from the same MariaDB), same key mix and concurrency.
 * Hits: orders already cached in both. Misses: every operation a distinct order whose entry was
 * deleted first, each one a MySQL load and a fill, under each side's stampede protection.
 */
export async function runPeerSection(fx: Fixture, s: PeerSettings, log: (msg: string) => void): Promise<PeerReport> {
  const oursPrefix = `${fx.prefix}peer-ours:`
  const app = await buildOurs({ redisUrl: fx.redisUrl, mysqlUrl: fx.mysqlUrl, prefix: oursPrefix, adminToken: fx.adminToken })
  const bento = buildBento({ redisUrl: fx.redisUrl, prefix: `${fx.prefix}peer-bento` })
  const load = loaderFor(app)
  try {
    const ours = (id: string) => app.orders.get(id)
    const theirs = (id: string) => bento.cache.getOrSet({ key: id, factory: () => load(id) })
    const hitIds = Array.from({ length: s.keys }, (_, i) => String(i + 1))
    await app.orders.warm(hitIds)
    for (let i = 0; i < hitIds.length; i += 200) await Promise.all(hitIds.slice(i, i + 200).map(theirs))
    // Same answer from both before anything is timed.
    const [a, b] = await Promise.all([ours('1'), theirs('1')])
    if (a !== b) throw new Error(`ours and bentocache disagree on order 1: ${a} vs ${b}`)

    const oursMissMode = stampedeMode()

    const sliceMs = (s.durationSec * 1000) / s.slices
    const results: PeerReport['rounds'] = []
    const once = async (kind: 'hit' | 'miss', contender: 'ours' | 'bentocache') => {
      const get = contender === 'ours' ? ours : theirs
      if (kind === 'hit') return closedLoop((i) => get(hitIds[(i * 7919) % hitIds.length]!), { concurrency: s.concurrency, durationMs: sliceMs })
      await scanDelete(fx.redis, contender === 'ours' ? `${oursPrefix}order:*` : bento.pattern)
      return closedLoop((i) => get(String(s.keys + 1 + i)), { concurrency: s.concurrency, durationMs: sliceMs, maxOps: s.missPool })
    }
    const check = (kind: string, contender: string, r: LoopResult) => {
      if (r.errors > 0) throw new Error(`${contender} ${kind}: ${r.errors} operations failed (${r.firstError})`)
      return r
    }
    const contenders = ['ours', 'bentocache'] as const
    // A round: slices alternating A B B A..., totals per side.
    const round = async (kind: 'hit' | 'miss', r: number) => {
      const parts = { ours: [] as LoopResult[], bentocache: [] as LoopResult[] }
      for (let k = 0; k < s.slices; k++) for (const c of rotate(contenders, r + k)) parts[c].push(check(kind, c, await once(kind, c)))
      for (const c of contenders) {
        const ops = parts[c].reduce((n, x) => n + x.ops, 0)
        const elapsedMs = parts[c].reduce((n, x) => n + x.elapsedMs, 0)
        const result: LoopResult = { ops, elapsedMs, opsPerSec: ops / (elapsedMs / 1000), errors: 0 }
        if (r >= 0) {
          results.push({ round: r, kind, contender: c, result })
          log(`  round ${r + 1}/${s.rounds} ${kind} ${c.padEnd(10)} ${result.opsPerSec.toFixed(0).padStart(7)} ops/s`)
        }
      }
    }
    // Reads that fell back to MySQL because Redis did not answer in time (a loaded machine) are
    // not hits: counted and reported.
    const lookups = async (outcome: string) => (await app.metrics.cacheLookups.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0
    const fallbacks0 = await lookups('error')
    for (const kind of ['hit', 'miss'] as const) {
      if (kind === 'miss') await app.strategies.update({ breakdown: { mode: oursMissMode } })
      await round(kind, -1) // JIT warm-up
      for (let r = 0; r < s.rounds; r++) await round(kind, r)
    }
    const oursFallbacksToMysql = (await lookups('error')) - fallbacks0

    // Counted after the timed rounds (wrapping a client's sendCommand changes its shape), with the
    // hit keys cached again (the miss rounds deleted every entry).
    await app.orders.warm(hitIds)
    for (let i = 0; i < hitIds.length; i += 200) await Promise.all(hitIds.slice(i, i + 200).map(theirs))
    const redisCommandsPerRead = {
      hit: { ours: await commandsPerCall(app.redis, 200, (i) => ours(hitIds[i % hitIds.length]!)), bentocache: await commandsPerCall(bento.redis, 200, (i) => theirs(hitIds[i % hitIds.length]!)) },
      miss: { ours: 0, bentocache: 0 },
    }
    await scanDelete(fx.redis, `${oursPrefix}order:*`)
    await scanDelete(fx.redis, bento.pattern)
    const missId = (i: number) => String(s.keys + 1 + i)
    redisCommandsPerRead.miss = { ours: await commandsPerCall(app.redis, Math.min(50, s.missPool), (i) => ours(missId(i))), bentocache: await commandsPerCall(bento.redis, Math.min(50, s.missPool), (i) => theirs(missId(i))) }
    await app.strategies.reset()

    const ratio = (kind: 'hit' | 'miss') => {
      const of = (c: string) => results.filter((x) => x.kind === kind && x.contender === c).map((x) => x.result.opsPerSec)
      const o = of('ours')
      const t = of('bentocache')
      return summarize(o.map((v, i) => v / t[i]!))
    }
    const figures = [
      withGoal({ section: 'peer', id: 'peer-hit', name: 'hits: ours / bentocache getOrSet (ops/s)', unit: 'ratio', summary: ratio('hit'), goal: { op: '>=', value: 1 } }),
      withGoal({
        section: 'peer',
        id: 'peer-miss',
        name: `misses: ours (breakdown=${oursMissMode}) / bentocache (ops/s)`,
        unit: 'ratio',
        summary: ratio('miss'),
        goal: { op: '>=', value: 1 },
        ...(oursMissMode === 'mutex' ? {} : { note: 'the catalogue has no mutex mode yet: ours ran without stampede protection' }),
      }),
    ]
    log(`  Redis commands per read: hit ours ${redisCommandsPerRead.hit.ours}, bentocache ${redisCommandsPerRead.hit.bentocache}; miss ours ${redisCommandsPerRead.miss.ours}, bentocache ${redisCommandsPerRead.miss.bentocache}`)
    return { figures, oursMissMode, redisCommandsPerRead, oursFallbacksToMysql, rounds: results }
  } finally {
    await bento.close()
    await app.close()
  }
}
