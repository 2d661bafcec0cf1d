import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

/**
 * Bucket size for a rate: a tenth of a second of writes (at least one). Over any window of T
 * seconds a token bucket grants at most `burst + rate × T`, so for rate ≥ 10/s every one-second
 * window stays within 1.1 × rate.
 */
export function burstFor(ratePerSec: number): number {
  return Math.max(1, Math.floor(ratePerSec / 10))
}

/** The most writes a bucket allows in a window of `seconds`. */
export function maxGrantsIn(ratePerSec: number, seconds: number): number {
  return burstFor(ratePerSec) + ratePerSec * seconds
}

// The bucket lives in Redis and uses Redis' clock, so every worker draws from the same one: the
// rate holds for the database, however many workers run. Tokens refill continuously.
// KEYS[1] bucket; ARGV rate/s, burst, wanted. Returns {granted, ms until the next token}.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil or ts == nil then tokens, ts = burst, now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
tokens = math.min(tokens, burst)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], 60000)
local wait = 0
if granted == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {granted, wait}
`
const TAKE_SHA = createHash('sha1').update(TAKE).digest('hex')

export class TokenBucket {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  /** Takes up to `want` tokens now; returns how many were granted and, if none, how long to wait. */
  async tryTake(ratePerSec: number, want: number): Promise<{ granted: number; waitMs: number }> {
    const args = [1, this.key, ratePerSec, burstFor(ratePerSec), want] as const
    let res: unknown
    try {
      res = await this.redis.evalsha(TAKE_SHA, ...args)
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err
      res = await this.redis.eval(TAKE, ...args)
    }
    const [granted, waitMs] = res as [number, number]
    return { granted: Number(granted), waitMs: Number(waitMs) }
  }
}
