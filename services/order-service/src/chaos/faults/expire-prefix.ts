import { Type } from 'typebox'
import { countExpired, escapeGlob, expireMatching } from '../../cache/expire.js'
import { defineChaos } from '../types.js'

export default defineChaos({
  kind: 'action',
  name: 'expire-prefix',
  description:
    'Expires now every cached order whose id starts with idPrefix ("" = all), found with SCAN: plain entries are deleted; entries carrying their own expiry are marked expired.',
  params: Type.Object(
    { idPrefix: Type.String({ pattern: '^[0-9]{0,19}$', default: '', description: 'leading digits of the order ids to expire ("12" matches 12, 120, 1234...)' }) },
    { additionalProperties: false },
  ),
  run: async (ctx, { idPrefix }) => {
    const expiredAt = Date.now()
    const result = await expireMatching(ctx.redis, `${escapeGlob(ctx.keys.order(idPrefix))}*`, expiredAt)
    countExpired(ctx.metrics, result)
    return { idPrefix, ...result, expiredAt }
  },
})
