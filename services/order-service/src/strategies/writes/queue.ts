import { QueueFull, QueueUnavailable } from '../../errors.js'
import { OrderQueue, pendingOrder } from '../../queue/order-queue.js'
import { enqueuedCounter } from '../../queue/queue-metrics.js'
import { defineMode } from '../types.js'

export default defineMode({
  family: 'writes',
  name: 'queue',
  description:
    'POST /orders appends the order to a Redis stream and answers 202; the order worker writes it to MySQL at queueRatePerSec. A full queue (queueMaxDepth) answers 503; an order that keeps failing goes to the dead-letter queue after queueMaxAttempts.',
  uses: ['queueRatePerSec', 'queueMaxDepth', 'queueMaxAttempts'],
  create: (ctx, params) => {
    const queue = new OrderQueue(ctx.redis, ctx.keys)
    const enqueued = enqueuedCounter(ctx.metrics)
    return {
      async create(order) {
        const pending = pendingOrder(order, 'queued')
        let res: Awaited<ReturnType<OrderQueue['enqueue']>>
        try {
          res = await queue.enqueue(order, pending, params.queueMaxDepth)
        } catch (err) {
          // A timeout does not say whether Redis ran the enqueue: ask, so that a 202 always means
          // "in the queue" and a 503 "not in the queue" (the pending entry is written with it).
          const accepted = await queue.wasAccepted(order.id)
          if (accepted === true) res = { accepted: true, entryId: '' }
          else {
            enqueued.inc({ result: 'error' })
            throw new QueueUnavailable(
              accepted === false ? `${(err as Error).message}; order not accepted` : `${(err as Error).message}; order ${order.id} may have been accepted: GET /orders/${order.id} tells`,
            )
          }
        }
        if (!res.accepted) {
          enqueued.inc({ result: 'full' })
          throw new QueueFull(res.depth)
        }
        enqueued.inc({ result: 'accepted' })
        return { status: 202, order: pending }
      },
      pending: (id) => queue.pending(id),
    }
  },
})
