import { setTimeout as sleep } from 'node:timers/promises'
import { MODES } from '../../services/order-service/src/strategies/catalogue.js'
import type { Family } from '../../services/order-service/src/strategies/families.js'
import { compare, hitCounter, measure, type Contender, type HttpLoad, type Measurement, type PairResult } from '../lib/contenders.js'
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
          await sleep(10) // a switch applies in tens of ms: a coarse poll was idle time per measurement
        }
      }
      await admin.rewarm(s.keys)
    }

    // Every mode is activated once up front, so a mode that cannot be built is skipped before the
    // rounds; the warm-up round below runs every mode's code path before anything is measured.
    const skipped: StrategyReport['skipped'] = []
    const usable: typeof candidates = []
    for (const c of candidates) {
      try {
        await activate(c.family, c.mode)
        usable.push(c)
      } catch (err) {
        skipped.push({ ...c, reason: (err as Error).message })
        log(`  skipping ${c.family}=${c.mode}: ${(err as Error).message}`)
      }
    }

    const label = (c: { family: Family; mode: string }) => `${c.family}=${c.mode}`
    const countHits = hitCounter([server])
    const settleSec = Math.min(0.3, s.durationSec / 3)
    const baselineContender: Contender = { name: 'baseline', servers: [server], prepare: () => activate(), settleSec, countHits }
    const contenders: Contender[] = usable.map((c) => ({ name: label(c), servers: [server], prepare: () => activate(c.family, c.mode), settleSec, countHits }))
    const results = await sharedBaselineRounds(contenders, baselineContender, s.rounds, s, (m) =>
      log(`  round ${m.round + 1}/${s.rounds} ${m.contender.padEnd(28)} ${m.rps.toFixed(0).padStart(6)} req/s  hits ${(m.hitFraction ?? Number.NaN).toFixed(2)}`),
    )
    const all = [...results.flatMap((r) => r.a), ...new Set(results.flatMap((r) => r.b))]
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

/**
 * Rounds in which two modes share one baseline measurement between them: M1 B M2, then M2 B M1 in
 * the next round (a lone last mode alternates M B / B M). Each mode's ratio still compares it with
 * the baseline measured right before or right after it, and which side goes first alternates from
 * round to round as in A B B A, so a steady drift of the machine's speed still cancels; the
 * baseline is measured once per two modes instead of once per mode. Round 0 (not reported) warms
 * every mode's code path up; the rounds of all modes interleave, so every mode is measured across
 * the same stretch of time.
 */
async function sharedBaselineRounds(modes: Contender[], baseline: Contender, n: number, opts: HttpLoad, onMeasured: (m: Measurement) => void): Promise<PairResult[]> {
  const out: PairResult[] = modes.map(() => ({ a: [], b: [] }))
  const groups: number[][] = []
  for (let i = 0; i < modes.length; i += 2) groups.push(i + 1 < modes.length ? [i, i + 1] : [i])
  for (let r = -1; r < n; r++) {
    for (const [g, group] of groups.entries()) {
      const flip = (r + g + 2) % 2 === 1
      const order: (number | 'baseline')[] = group.length === 2 ? (flip ? [group[1]!, 'baseline', group[0]!] : [group[0]!, 'baseline', group[1]!]) : flip ? ['baseline', group[0]!] : [group[0]!, 'baseline']
      const got = new Map<number | 'baseline', Measurement>()
      for (const x of order) got.set(x, await measure(x === 'baseline' ? baseline : modes[x]!, r, opts, r >= 0))
      if (r < 0) continue // warm-up round
      for (const x of order) onMeasured(got.get(x)!)
      for (const i of group) {
        out[i]!.a.push(got.get(i)!)
        out[i]!.b.push(got.get('baseline')!)
      }
    }
  }
  return out
}
