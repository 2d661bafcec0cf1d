import type { FastifyInstance } from 'fastify'

const SERIES = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/**
 * The sum of every series of `name` (as exposed, e.g. `…_seconds_count`) whose labels include
 * `labels`, read from each app's own registry: the figures tests assert come from what the
 * service counted, summed over replicas when several apps are given.
 */
export async function metric(apps: FastifyInstance | FastifyInstance[], name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0
  for (const app of Array.isArray(apps) ? apps : [apps]) {
    for (const line of (await app.metrics.registry.metrics()).split('\n')) {
      const m = SERIES.exec(line)
      if (!m || m[1] !== name) continue
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1], l[2]]))
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3])
    }
  }
  return sum
}

/** Snapshots some figures now; `delta()` returns how much each moved since. */
export async function snapshot<K extends string>(read: Record<K, () => Promise<number>>): Promise<{ delta(): Promise<Record<K, number>> }> {
  const keys = Object.keys(read) as K[]
  const before = await Promise.all(keys.map((k) => read[k]()))
  return {
    async delta() {
      const after = await Promise.all(keys.map((k) => read[k]()))
      return Object.fromEntries(keys.map((k, i) => [k, after[i]! - before[i]!])) as Record<K, number>
    },
  }
}
