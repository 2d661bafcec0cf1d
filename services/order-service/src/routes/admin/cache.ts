import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { scanDelete } from '../../cache/scan.js'
import { ORDER_ID_PATTERN } from '../../schemas/order.js'

const WarmBody = Type.Union([
  Type.Object({ ids: Type.Array(Type.String({ pattern: ORDER_ID_PATTERN }), { minItems: 1, maxItems: 100_000 }) }, { additionalProperties: false }),
  Type.Object(
    { from: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), count: Type.Integer({ minimum: 1, maximum: 1_000_000 }) },
    { additionalProperties: false },
  ),
])

const cache: FastifyPluginAsyncTypebox = async (app) => {
  // Every phase of a scenario starts from a clean cache: this drops every cached order (and
  // sentinel) under this service's prefix, leaving strategy and chaos state alone.
  app.post('/admin/cache/flush', async () => ({ deleted: await scanDelete(app.redis, app.keys.orderPattern()) }))

  // Warm-up: preload hot ids (a list, or a range from..from+count-1) into the cache at once.
  app.post('/admin/cache/warm', { schema: { body: WarmBody } }, async (req) => {
    const body = req.body
    const ids = 'ids' in body ? body.ids : Array.from({ length: body.count }, (_, i) => String(body.from + i))
    return app.orders.warm(ids)
  })
}

export default cache
