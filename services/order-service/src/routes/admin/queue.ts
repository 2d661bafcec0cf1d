import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DeadLetterNotFound, InvalidInput, QueueFull } from '../../errors.js'
import { ENTRY_ID_PATTERN } from '../../queue/order-queue.js'

const EntryParams = Type.Object(
  { entryId: Type.String({ pattern: ENTRY_ID_PATTERN, description: 'dead-letter entry id, as listed by GET /admin/queue/dead-letters' }) },
  { additionalProperties: false },
)
// Query strings arrive as strings (the app never coerces types): the limit is checked here.
const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$', description: 'at most this many (1..1000, default 50)' })),
    after: Type.Optional(Type.String({ pattern: ENTRY_ID_PATTERN, description: 'start after this entry id (paging)' })),
  },
  { additionalProperties: false },
)

const queue: FastifyPluginAsyncTypebox = async (app) => {
  const maxDepth = () => app.strategies.current().writes.params.queueMaxDepth

  // The queue at a glance: depth, what is in flight and with whom, the dead letters, the parameters.
  app.get('/admin/queue', async () => {
    const [stats, consumers] = await Promise.all([app.writeQueue.stats(), app.writeQueue.consumers()])
    const writes = app.strategies.current().writes
    return { mode: writes.mode, params: writes.params, ...stats, consumers }
  })

  app.get('/admin/queue/dead-letters', { schema: { querystring: ListQuery } }, async (req) => {
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit)
    if (limit < 1 || limit > 1000) throw new InvalidInput(`querystring/limit must be from 1 to 1000, got ${limit}`)
    const deadLetters = await app.writeQueue.deadLetters(limit, req.query.after)
    return { deadLetters, next: deadLetters.length === limit ? deadLetters[deadLetters.length - 1]!.entryId : null }
  })

  // Back to the queue with a fresh delivery count (fix the cause first, or it comes back).
  app.post('/admin/queue/dead-letters/:entryId/replay', { schema: { params: EntryParams } }, async (req) => {
    const res = await app.writeQueue.replay(req.params.entryId, maxDepth())
    if (res.result === 'missing') throw new DeadLetterNotFound(req.params.entryId)
    if (res.result === 'full') throw new QueueFull(res.depth)
    return { replayed: req.params.entryId, entryId: res.entryId }
  })

  app.post('/admin/queue/dead-letters/replay', async () => app.writeQueue.replayAll(maxDepth()))
}

export default queue
