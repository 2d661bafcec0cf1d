import Fastify from 'fastify'
import { Redis } from 'ioredis'

// The bare minimum the hit path can be compared with: one Fastify route, one ioredis GET of the
// cached JSON, sent as is. No validation, no strategies, no metrics, no logger, default client
// options. Same process model as the service: a child process that prints nothing until it listens.
const port = Number(process.env.PORT ?? 0)
const prefix = process.env.KEY_PREFIX ?? 'cachelab:'
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')

const app = Fastify({ logger: false })
app.get<{ Params: { id: string } }>('/orders/:id', async (req, reply) => {
  const json = await redis.get(`${prefix}order:${req.params.id}`)
  if (json === null) return reply.code(404).send({ statusCode: 404 })
  return reply.type('application/json; charset=utf-8').send(json)
})
app.get('/healthz', async () => ({ status: 'ok' }))

const close = async () => {
  await app.close()
  redis.disconnect()
  process.exit(0)
}
process.once('SIGTERM', close)
process.once('SIGINT', close)
await app.listen({ port, host: '127.0.0.1' })
