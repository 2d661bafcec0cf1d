import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'

// Delete the lock only if it still holds our token: a holder whose lock expired (and was taken by
// another request) must not release the new owner's lock. GET + DEL in one script is atomic.
const RELEASE_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`
const RELEASE_COMMAND = 'cachelabReleaseLock'

type ReleaseCommand = { [RELEASE_COMMAND]?: (key: string, token: string) => Promise<number> }

/**
 * A single-instance Redis lock: `SET key token NX PX ttl` to acquire, compare-and-delete (Lua,
 * sent by EVALSHA through ioredis' defineCommand) to release. The TTL bounds how long a holder that
 * dies keeps others waiting. Errors are thrown: the caller decides what a failing Redis means.
 */
export class RedisLock {
  private readonly releaseIfOwner: (key: string, token: string) => Promise<number>

  constructor(private readonly redis: Redis) {
    // Modes are re-created on every switch; the script is defined once per client.
    const client = redis as unknown as ReleaseCommand
    if (typeof client[RELEASE_COMMAND] !== 'function') redis.defineCommand(RELEASE_COMMAND, { numberOfKeys: 1, lua: RELEASE_IF_OWNER })
    const release = client[RELEASE_COMMAND]!
    this.releaseIfOwner = (key, token) => release.call(redis, key, token)
  }

  /** The token proving ownership, or null when someone else holds the lock. */
  async tryAcquire(key: string, ttlMs: number): Promise<string | null> {
    const token = randomUUID()
    const ok = await this.redis.set(key, token, 'PX', ttlMs, 'NX')
    return ok === 'OK' ? token : null
  }

  /** True when released; false when the lock is no longer ours (expired, maybe taken by another). */
  async release(key: string, token: string): Promise<boolean> {
    return (await this.releaseIfOwner(key, token)) === 1
  }
}
