import type { Redis } from 'ioredis'

type ScriptArg = string | number

/**
 * A Lua script registered on a client with ioredis' defineCommand (EVALSHA, falling back to EVAL
 * after a NOSCRIPT, e.g. when Redis restarted). Registering is idempotent: modes are re-created
 * on every switch and share the app's client.
 */
export function defineScript<R>(redis: Redis, name: string, numberOfKeys: number, lua: string): (keys: string[], args: ScriptArg[]) => Promise<R> {
  const commands = redis as unknown as Record<string, (...a: ScriptArg[]) => Promise<R>>
  if (typeof commands[name] !== 'function') redis.defineCommand(name, { numberOfKeys, lua })
  return (keys, args) => commands[name]!(...keys, ...args)
}
