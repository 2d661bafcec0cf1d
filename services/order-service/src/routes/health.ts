import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const Dependency = Type.Union([Type.Literal('up'), Type.Literal('down')])

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  // Ready while at least one of cache and database answers: with only Redis, hits are still served;
  // with only MySQL, every read is. Each dependency is reported so a dashboard can show which.
  app.get(
    '/readyz',
    {
      schema: {
        response: {
          '2xx': Type.Object({ status: Type.String(), redis: Dependency, mysql: Dependency }),
          503: Type.Object({ status: Type.String(), redis: Dependency, mysql: Dependency }),
        },
      },
    },
    async (_req, reply) => {
      const [redis, mysql] = await Promise.all([
        app.redis.ping().then(() => 'up' as const, () => 'down' as const),
        app.repo.ping().then(() => 'up' as const, () => 'down' as const),
      ])
      const status = redis === 'up' && mysql === 'up' ? 'ok' : redis === 'down' && mysql === 'down' ? 'unavailable' : 'degraded'
      reply.code(status === 'unavailable' ? 503 : 200)
      return { status, redis, mysql }
    },
  )
}

export default health
