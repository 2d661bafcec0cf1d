import type { Redis } from 'ioredis'

// The kill switch of the worker-kill chaos action: an epoch that only goes up, and a target. A
// worker remembers the epoch it started in and crashes when it grows (and targets it), so a
// restarted worker is not killed again by an old request.
export const WORKER_KILL_SCRIPT = `
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'target', ARGV[1])
return epoch
`

export async function readKillSwitch(redis: Redis, key: string): Promise<{ epoch: number; target: string }> {
  const [epoch, target] = await redis.hmget(key, 'epoch', 'target')
  return { epoch: Number(epoch ?? 0), target: target ?? '*' }
}
