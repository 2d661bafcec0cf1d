import { Type } from 'typebox'
import { countExpired, expireNow } from '../../cache/expire.js'
import { ORDER_ID_PATTERN } from '../../schemas/order.js'
import { defineChaos } from '../types.js'

export default defineChaos({
  kind: 'action',
  name: 'expire-key',
  description:
    "Expires one order's cache entry now, as its TTL would: a plain entry is deleted; an entry carrying its own expiry (logical-expiry, early-refresh) keeps its value and is marked expired.",
  params: Type.Object({ id: Type.String({ pattern: ORDER_ID_PATTERN, description: 'the order id whose entry expires' }) }, { additionalProperties: false }),
  run: async (ctx, { id }) => {
    // The instant it expired (epoch ms): a scenario lines latencies up with it, not with the moment
    // it sent the request (which a loaded replica may serve much later).
    const expiredAt = Date.now()
    const result = await expireNow(ctx.redis, [ctx.keys.order(id)], expiredAt)
    countExpired(ctx.metrics, result)
    return { id, ...result, expiredAt }
  },
})
