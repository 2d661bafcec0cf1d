import type { Redis } from 'ioredis'
import { Type } from 'typebox'
import type { Metrics } from '../../metrics.js'
import { defineChaos } from '../types.js'

/** A pause this replica asked for: shown as cachelab_chaos_fault_active{fault="redis-pause"} until it ends. */
interface KnownPause {
  mode: 'all' | 'write'
  until: number
  timer: NodeJS.Timeout
}
const pauses = new WeakMap<Redis, KnownPause>()

export function knownPause(redis: Redis): KnownPause | undefined {
  const p = pauses.get(redis)
  return p && p.until > Date.now() ? p : undefined
}

export function forgetPause(redis: Redis, metrics: Metrics): void {
  const p = pauses.get(redis)
  if (p) clearTimeout(p.timer)
  pauses.delete(redis)
  metrics.chaosActive.set({ fault: 'redis-pause' }, 0)
}

export default defineChaos({
  kind: 'action',
  name: 'redis-pause',
  description:
    'Makes Redis unavailable for ms milliseconds with CLIENT PAUSE: mode all holds every command of every client (reads and fills wait until the command timeout); mode write holds writes (fills, deletes), and since Redis runs a connection\'s commands in order, the reads queued behind a held fill on the service\'s connection wait too. It pauses the WHOLE Redis server this service talks to, every other user of it included: run the lab against a Redis of its own. The pause ends by itself after ms; redis-unpause ends a write pause early (Redis 7 holds CLIENT UNPAUSE itself behind an all pause).',
  params: Type.Object(
    {
      ms: Type.Integer({ minimum: 1, maximum: 600_000, default: 5000, description: 'how long Redis stays paused' }),
      mode: Type.Union([Type.Literal('all'), Type.Literal('write')], { default: 'all', description: 'all: every command; write: commands that write' }),
    },
    { additionalProperties: false },
  ),
  run: async ({ redis, metrics }, { ms, mode }) => {
    if (mode === 'all') await redis.client('PAUSE', ms, 'ALL')
    else await redis.client('PAUSE', ms, 'WRITE')
    const until = Date.now() + ms
    forgetPause(redis, metrics)
    const timer = setTimeout(() => forgetPause(redis, metrics), ms)
    timer.unref()
    pauses.set(redis, { mode, until, timer })
    metrics.chaosActive.set({ fault: 'redis-pause' }, 1)
    return { paused: mode, ms, until: new Date(until).toISOString() }
  },
})
