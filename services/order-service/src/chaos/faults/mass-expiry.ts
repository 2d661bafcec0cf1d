import { Type } from 'typebox'
import { defineChaos } from '../types.js'

const SCAN_BATCH = 1000

export default defineChaos({
  kind: 'action',
  name: 'mass-expiry',
  description:
    "Makes every cached order of this service (and every \"not found\" sentinel) expire at one instant, now + inMs by the Redis server's clock: PEXPIREAT on each key, found by SCAN in batches (never KEYS). The avalanche's trigger, on demand.",
  params: Type.Object(
    {
      inMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 1000, description: 'the instant, in ms from now; 0 expires them at once' }),
    },
    { additionalProperties: false },
  ),
  run: async ({ redis, keys }, { inMs }) => {
    // Redis's clock, not ours: the instant must be the same for every key whatever the clock skew.
    const [seconds, micros] = await redis.time()
    const expiresAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + inMs
    let cursor = '0'
    let expiring = 0
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', keys.orderPattern(), 'COUNT', SCAN_BATCH)
      cursor = next
      if (batch.length === 0) continue
      const pipeline = redis.pipeline()
      for (const key of batch) pipeline.pexpireat(key, expiresAt)
      // A key that expired between SCAN and PEXPIREAT answers 0; it is gone already.
      for (const [err, set] of (await pipeline.exec()) ?? []) if (!err && set === 1) expiring++
    } while (cursor !== '0')
    return { keys: expiring, expiresAt: new Date(expiresAt).toISOString(), expiresAtMs: expiresAt }
  },
})
