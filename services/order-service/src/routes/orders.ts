import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { InvalidInput, OrderNotFound, RateLimited } from '../errors.js'
import { CreateOrderBody, Order, OrderIdParams, UpdateOrderBody, isOrderIdInRange } from '../schemas/order.js'

const JSON_TYPE = 'application/json; charset=utf-8'

const orders: FastifyPluginAsyncTypebox = async (app) => {
  // Optional, off by default (a load test must measure the service, not the limiter). Registered in
  // this plugin's scope: the order routes only, never health, metrics or the admin API. Counted
  // per replica, in memory: a Redis outage cannot take the limiter (or the routes) down with it.
  const { RATE_LIMIT_MAX: max, RATE_LIMIT_WINDOW_MS: timeWindow } = app.config
  if (max > 0) {
    await app.register(rateLimit, { max, timeWindow, errorResponseBuilder: (_req, ctx) => new RateLimited(max, timeWindow, ctx.after) })
  }

  // The id pattern cannot express the 2^63 bound: each handler refuses the rest first. In the
  // handler, not a preHandler hook: a hook costs the hook runner on every read.
  const checkRange = (id: string) => {
    if (!isOrderIdInRange(id)) throw new InvalidInput(`params/id ${id} is out of range: at most 9223372036854775807`)
  }

  app.get('/orders/:id', { schema: { params: OrderIdParams } }, async (req, reply) => {
    checkRange(req.params.id)
    const result = await app.orders.get(req.params.id)
    if (result === null) throw new OrderNotFound(req.params.id)
    // The cached JSON is the response body: Fastify sends a string with a JSON content type as
    // is, never parsed and re-serialized.
    if (typeof result === 'string') return reply.type(JSON_TYPE).send(result)
    // A degraded answer (avalanche protection) says so: the order may be older than MySQL's.
    return reply.header('x-cachelab-degraded', result.degraded).type(JSON_TYPE).send(result.json)
  })

  app.post('/orders', { schema: { body: CreateOrderBody } }, async (req, reply) => {
    const result = await app.orders.create(req.body)
    reply.code(result.status)
    if (result.status === 202) reply.header('location', `/orders/${result.order.id}`)
    return result.order
  })

  app.put('/orders/:id', { schema: { params: OrderIdParams, body: UpdateOrderBody, response: { 200: Order } } }, async (req) => {
    checkRange(req.params.id)
    const order = await app.orders.update(req.params.id, req.body)
    if (!order) throw new OrderNotFound(req.params.id)
    return order
  })
}

export default orders
