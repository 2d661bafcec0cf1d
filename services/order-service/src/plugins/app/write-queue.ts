import fp from 'fastify-plugin'
import { OrderQueue } from '../../queue/order-queue.js'
import { enqueuedCounter, registerQueueGauges } from '../../queue/queue-metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    writeQueue: OrderQueue
  }
}

/** The write queue as the admin routes see it, and its gauges on the service's /metrics. */
export default fp(
  async (app) => {
    const queue = new OrderQueue(app.redis, app.keys)
    registerQueueGauges(app.metrics, queue)
    enqueuedCounter(app.metrics)
    app.decorate('writeQueue', queue)
  },
  { name: 'write-queue', dependencies: ['core'] },
)
