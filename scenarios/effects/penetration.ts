import { request } from 'undici'
import { createWorkload } from '../lib/workload.js'
import { round } from '../runner/figures.js'
import { increase } from '../runner/prom.js'
import { defineScenario, type SetupContext } from '../runner/types.js'

// How the attack's MySQL queries are counted, exactly, from the service's own counters.
//
// Attack ids exist nowhere (scenarios/lib/workload.js draws them from a range no seeded or created
// order uses); legit reads are of orders that exist (seeded, or created and acknowledged before
// the read-back is sent). On the read path (breakdown mode none: one load per miss) a MySQL select
// of an existing order always ends in exactly one cache fill (cachelab_cache_fills_total, any
// result), and a select of a missing id never fills. So during the phase:
//   attack selects = cachelab_db_queries_total{operation="select"} − cachelab_cache_fills_total
// Two paths select without filling: the fallback on a Redis error (lookup outcome error /
// breaker_open) and a select that fails (timeout). Such a select may be legit, so the figure is
// then an upper bound and a note says by how much (the definition raises REDIS_COMMAND_TIMEOUT_MS
// so that the loaded machine does not take the first). The simpler "selects − legit reads" would
// not be exact: a warmed legit read costs no select, a read-back always does, a fallback does either.

const ATTACK = 'attack'
const LEGIT_READS = ['legit', 'legit-read-back']
const LEGIT_CREATE = 'legit-create'
const SELECTS = 'cachelab_db_queries_total{operation="select"}'

/** Reads at once while priming. */
const PRIME_CONCURRENCY = 16
/** What the first round cost, per phase (reported with the phase's effects). */
const firstRounds = new Map<string, { ids: number; selects: number }>()

/**
 * The attack's first round, before the measured part of a `:repeated` phase whose defense keeps
 * state from a read (a null-cache sentinel): every id of the repeated set is read once, so the
 * measurement shows the defense's steady state (a repeated id costs one query per nullTtlSeconds)
 * rather than how fast this machine gets through the set's first misses. In the other modes a read
 * leaves nothing behind (no sentinel; the Bloom filter only learns creations), so there is nothing
 * to prime and nothing is sent.
 */
async function primeRepeatedSet({ scenario, phase, seed, target }: SetupContext): Promise<void> {
  firstRounds.delete(phase.name)
  const entry = phase.workload.mix.find((m) => m.tag === ATTACK)
  const keys = entry?.keys
  if (keys?.distribution !== 'missing' || keys.variant !== 'repeated') return
  if (!phase.strategies?.penetration?.mode?.includes('null-cache')) return
  // The set is drawn inside the workload generator: replay the phase's own request sequence (same
  // seed, same definition) until every id of the set has come up.
  const count = keys.count ?? 10
  const workload = createWorkload(phase.workload, { seed, seededOrders: scenario.seed.orders })
  const ids = new Set<string>()
  for (let i = 0; i < 1000 * count && ids.size < count; i++) {
    const req = workload.next()
    if (req.tag === ATTACK && req.id !== undefined) ids.add(req.id)
  }
  const queue = [...ids]
  const before = await target.scrape()
  let sent = 0
  await Promise.all(
    Array.from({ length: PRIME_CONCURRENCY }, async () => {
      for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
        const base = target.baseUrls[sent++ % target.baseUrls.length]!
        // A failed read leaves its id unprimed: the measurement then counts its first miss.
        await request(`${base}/orders/${id}`, { headersTimeout: 10_000, bodyTimeout: 10_000 }).then(
          (res) => res.body.dump(),
          () => {},
        )
      }
    }),
  )
  firstRounds.set(phase.name, { ids: ids.size, selects: increase(before, await target.scrape(), SELECTS) })
}

export default defineScenario({
  name: 'penetration',
  beforePhase: primeRepeatedSet,
  effects({ phase, records, metrics, note }) {
    const attack = records.filter((r) => r.tag === ATTACK)
    const first = firstRounds.get(phase.name)
    if (first) note(`before measuring, the attack's first round read each of the ${first.ids} repeated ids once: ${first.selects} MySQL selects`)
    const selects = metrics.delta(SELECTS)
    const fills = metrics.delta('cachelab_cache_fills_total')
    const attackDbQueries = selects - fills
    // Selects that fill nothing although they may be legit: a fallback on a Redis error, a select
    // that failed (timeout, MySQL error). Then the split is an upper bound, and the note says by how much.
    const fallbacks = metrics.delta('cachelab_cache_lookups_total{outcome="error"}') + metrics.delta('cachelab_cache_lookups_total{outcome="breaker_open"}')
    if (fallbacks > 0) note(`${fallbacks} reads fell back to MySQL on a Redis error: up to that many of the ${attackDbQueries} attack DB queries may be legit reads`)
    const failedSelects = metrics.delta('cachelab_db_errors_total{operation="select"}')
    if (failedSelects > 0) note(`${failedSelects} selects failed (timeouts or MySQL errors): up to that many of the ${attackDbQueries} attack DB queries may be failed legit reads`)
    const unanswered = attack.filter((r) => r.status !== 404).length
    if (unanswered > 0) note(`${unanswered} attack requests were not answered 404 (errors or timeouts): see the statuses`)

    // Every created order is read back on the other replica at once; say how many were.
    const creates = records.filter((r) => r.tag === LEGIT_CREATE)
    const acknowledged = creates.filter((r) => r.status >= 200 && r.status < 300).length
    const readBacks = records.filter((r) => r.tag === 'legit-read-back').length
    if (acknowledged < creates.length) note(`${creates.length - acknowledged} of ${creates.length} creates on replica 1 were not acknowledged (not read back)`)
    const legitNotFound = records.filter((r) => LEGIT_READS.includes(r.tag) && r.status === 404).length
    if (legitNotFound > 0) {
      const lost = records.filter((r) => r.tag === 'legit-read-back' && r.status === 404).length
      note(`${legitNotFound} legit reads answered 404 (${lost} of them of orders just created on replica 1, out of ${readBacks} read back)`)
    }

    // Bloom phases: per attack read the filter decided on, a false positive ("maybe", then 404) or a
    // reject. Legit reads add to neither: they end in 200 (a 404 would show in legitNotFound).
    let falsePositiveRate: number | null = null
    if (phase.strategies?.penetration?.mode?.startsWith('bloom')) {
      const falsePositives = metrics.delta('cachelab_bloom_false_positives_total')
      const rejects = metrics.delta('cachelab_bloom_checks_total{answer="absent"}')
      falsePositiveRate = falsePositives + rejects > 0 ? round(falsePositives / (falsePositives + rejects), 4) : null
      const unchecked = metrics.delta('cachelab_bloom_checks_total{answer="unchecked"}')
      if (unchecked > 0) note(`${unchecked} reads were let through unchecked (filter not trusted, or the creation journal unreachable)`)
      const capacityRebuilds = metrics.delta('cachelab_bloom_rebuilds_total{reason="capacity"}')
      if (capacityRebuilds > 0) note(`the filter outgrew bloomCapacity and was rebuilt for twice its items: its false-positive rate dropped mid-phase`)
    }

    return {
      attackRequests: attack.length,
      attackDbQueries,
      attackDbQueriesPer1k: attack.length > 0 ? round((attackDbQueries / attack.length) * 1000, 1) : null,
      falsePositiveRate,
      legitNotFound,
    }
  },
})
