import closeWithGrace from 'close-with-grace'
import { Redis } from 'ioredis'
import { buildApp } from '../services/order-service/src/app.js'
import { loadConfig } from '../services/order-service/src/config.js'

// The service's whole app (every plugin, its Redis clients and MySQL pool, the logger, the metrics
// hooks) with the bare route's handler beside its own routes, at /bare/orders/:id: one default
// ioredis GET of the cached JSON, sent as is, as in bare-server.ts. `npm run bench:perf -- --against
// app` compares the service's GET /orders/:id with it, which splits the hit path's distance from
// the bare route into what the process is (this server against bare-server.ts) and what the order
// route itself does (the service against this server).
const config = loadConfig()
const redis = new Redis(config.REDIS_URL)
const app = await buildApp(config, {
  extraPlugins: [
    async (app) => {
      app.get<{ Params: { id: string } }>('/bare/orders/:id', async (req, reply) => {
        const json = await redis.get(`${config.KEY_PREFIX}order:${req.params.id}`)
        if (json === null) return reply.code(404).send({ statusCode: 404 })
        return reply.type('application/json; charset=utf-8').send(json)
      })
    },
  ],
})
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS }, async () => {
  await app.close()
  redis.disconnect()
})
await app.listen({ port: config.PORT, host: config.HOST })
