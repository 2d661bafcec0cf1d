import { setTimeout as sleep } from 'node:timers/promises'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import type { Family } from '../../services/order-service/src/strategies/families.js'
import { compare, hitCounter, measure, pairedRounds, type Contender, type HttpLoad, type Measurement } from '../lib/contenders.js'
import type { Fixture } from '../lib/fixture.js'
import { withGoal, type Figure } from '../lib/report.js'
import { Admin, startService } from '../lib/service.js'
import { summarize } from '../lib/stats.js'

/** The families whose modes run on GET /orders/:id; the others act on writes only. */
export const READ_PATH_FAMILIES: Family[] = ['penetration', 'breakdown', 'avalanche']

export interface StrategySettings extends HttpLoad {
  rounds: number
  keys: number
  families: Family[]
  /** Only these mode names (default: every non-baseline mode of the families). */
  modes?: string[]
}

export interface StrategyReport {
  figures: Figure[]
  measurements: Measurement[]
  /** Modes benchmarked (read from the catalogue when the bench ran), with their hit fraction. */
  modes: { family: Family; mode: string; hitFraction: number }[]
  skipped: { family: Family; mode: string; reason: string }[]
}

/**
 * Section 2: every non-baseline mode of the chosen families, as the catalogue has them when the
 * bench runs, against all-baseline, on one service process. Each measurement switches the modes
 * through PUT /admin/strategies, waits until they are active, and re-warms the cache so entries are
 * in the active modes' format (e.g. a logical-expiry envelope) before the load starts.
 */
export async function runStrategySection(fx: Fixture, s: StrategySettings, log: (msg: string) => void): Promise<StrategyReport> {
  const candidates = s.families.flatMap((family) => MODES[family].slice(1).map((m) => ({ family, mode: m.name }))).filter((c) => !s.modes || s.modes.includes(c.mode))
  if (candidates.length === 0) return { figures: [], measurements: [], modes: [], skipped: [] }
  const server = await startService(fx, 'ours-strategies', `${fx.prefix}strategies:`)
  const admin = new Admin(server.url, fx.adminToken)
  try {
    const activate = async (family?: Family, mode?: string) => {
      await admin.call('DELETE', '/admin/strategies')
      if (family && mode) {
        await admin.call('PUT', '/admin/strategies', { [family]: { mode } })
        // A mode that builds slowly (a Bloom filter loading ids) is applied when ready.
        const deadline = Date.now() + 30_000
        for (;;) {
          const state = await admin.call<{ strategies: Record<string, { mode: string }> }>('GET', '/admin/strategies')
          if (state.strategies[family]?.mode === mode) break
          if (Date.now() > deadline) throw new Error(`${family} mode ${mode} was not active 30 s after it was set`)
          await sleep(100)
        }
      }
      await admin.rewarm(s.keys)
    }

    const skipped: StrategyReport['skipped'] = []
    const usable: typeof candidates = []
    for (const c of candidates) {
      try {
        await activate(c.family, c.mode)
        await measure({ name: 'warm-up', servers: [server] }, -1, { ...s, durationSec: Math.min(1, s.durationSec) })
        usable.push(c)
      } catch (err) {
        skipped.push({ ...c, reason: (err as Error).message })
        log(`  skipping ${c.family}=${c.mode}: ${(err as Error).message}`)
      }
    }
    await activate()
    await measure({ name: 'warm-up', servers: [server] }, -1, { ...s, durationSec: Math.min(1, s.durationSec) })

    const label = (c: { family: Family; mode: string }) => `${c.family}=${c.mode}`
    const countHits = hitCounter([server])
    const settleSec = Math.min(0.3, s.durationSec / 3)
    const baselineContender: Contender = { name: 'baseline', servers: [server], prepare: () => activate(), settleSec, countHits }
    const results = await pairedRounds(
      usable.map((c) => ({ a: { name: label(c), servers: [server], prepare: () => activate(c.family, c.mode), settleSec, countHits }, b: baselineContender })),
      s.rounds,
      s,
      (m) => log(`  round ${m.round + 1}/${s.rounds} ${m.contender.padEnd(28)} ${m.rps.toFixed(0).padStart(6)} req/s  hits ${(m.hitFraction ?? Number.NaN).toFixed(2)}`),
    )
    const all = results.flatMap((r) => [...r.a, ...r.b])
    const failed = all.filter((m) => m.non2xx + m.errors + m.timeouts > 0)
    if (failed.length > 0) throw new Error(`non-2xx responses or errors while measuring strategies: ${JSON.stringify(failed.map((m) => ({ contender: m.contender, non2xx: m.non2xx, errors: m.errors })))}`)

    const figures: Figure[] = []
    for (const [i, c] of usable.entries()) {
      const r = compare(results[i]!.a, results[i]!.b)
      figures.push(withGoal({ section: 'strategies', id: `strategy-${c.family}-${c.mode}`, name: `${label(c)} / baseline (cost ≤ 5%)`, unit: 'ratio', summary: summarize(r.rps), goal: { op: '>=', value: 0.95 }, ...(r.cpu ? { cpu: summarize(r.cpu) } : {}) }))
    }
    const hitFraction = (i: number) => summarize(results[i]!.a.map((m) => m.hitFraction ?? Number.NaN)).median
    return { figures, measurements: all, modes: usable.map((c, i) => ({ ...c, hitFraction: hitFraction(i) })), skipped }
  } finally {
    await server.stop()
  }
}
