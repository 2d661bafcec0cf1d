import { newOrderToOrder } from '../../db/order-repository.js'
import { OrderExists } from '../../errors.js'
import { OrderQueue } from '../../queue/order-queue.js'
import { defineMode } from '../types.js'

export default defineMode({
  family: 'writes',
  name: 'sync',
  description: 'POST /orders inserts into MySQL before answering 201: a write burst lands on MySQL at its own pace.',
  uses: [],
  create: (ctx) => {
    // Orders accepted while the queue mode was on may still be waiting after a switch back.
    const queue = new OrderQueue(ctx.redis, ctx.keys)
    return {
      async create(order) {
        if (!(await ctx.repo.insert(order))) throw new OrderExists(order.id)
        return { status: 201, order: newOrderToOrder(order) }
      },
      pending: (id) => queue.pending(id),
    }
  },
})
