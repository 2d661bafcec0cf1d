import { setAfterCommit } from '../../consistency/after-commit.js'
import { defineScript } from '../../consistency/scripts.js'
import { defineMode } from '../types.js'

// Every cache write of an order compares versions inside Redis: a value lands only if the cached
// one is not newer. The version is read from the JSON (after the `@<expiry>|` envelope of
// logical-expiry entries); an entry without one (the "not found" sentinel) is simply replaced.
// An equal version lands too: a logical-expiry refresh rewrites the same version.
const SET_IF_NOT_OLDER = `
local function version(value)
  if not value then return nil end
  local brace = string.find(value, '{', 1, true)
  if not brace then return nil end
  local ok, order = pcall(cjson.decode, string.sub(value, brace))
  if ok and type(order) == 'table' then return tonumber(order.version) end
  return nil
end
local incoming = version(ARGV[1])
local cached = version(redis.call('GET', KEYS[1]))
if incoming and cached and cached > incoming then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
`

export default defineMode({
  family: 'consistency',
  name: 'versioned',
  description:
    'Update MySQL, then write the new order into the cache; every cache write (fills included) lands only if the cached version is not newer, compared in Lua. A slow reader or a late writer can no longer put an older version back, without any delay.',
  uses: [],
  create: (ctx) => {
    const setIfNotOlder = defineScript<number>(ctx.redis, 'cachelabSetIfNotOlderVersion', 1, SET_IF_NOT_OLDER)
    return {
      async fill(id, value, ttlSeconds) {
        try {
          return (await setIfNotOlder([ctx.keys.order(id)], [value, ttlSeconds ?? 0])) === 1
        } catch (err) {
          ctx.metrics.redisErrors.inc({ operation: 'set' })
          throw err
        }
      },
      async update(id, patch, cache) {
        const order = await ctx.repo.update(id, patch)
        if (order) await setAfterCommit(ctx, cache, order)
        return order
      },
    }
  },
})
