import type { Redis } from 'ioredis'

/** Deletes every key matching a pattern with SCAN + UNLINK (never KEYS: it blocks Redis). */
export async function scanDelete(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) deleted += await redis.unlink(...keys)
  } while (cursor !== '0')
  return deleted
}
