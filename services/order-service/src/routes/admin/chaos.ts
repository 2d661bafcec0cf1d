import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CHAOS } from '../../chaos/catalogue.js'
import { chaosCatalogue } from '../../chaos/registry.js'

const faultNames = CHAOS.filter((c) => c.kind === 'fault').map((c) => Type.Literal(c.name))
const actionNames = CHAOS.filter((c) => c.kind === 'action').map((c) => Type.Literal(c.name))
// Parameters are checked against the named entry's own schema by the registry (a clear message
// naming the parameter); the route schema checks the envelope.
const Params = Type.Optional(Type.Object({}, { additionalProperties: true }))

const chaos: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/admin/chaos', async () => ({ active: app.chaos.list(), catalogue: chaosCatalogue() }))

  app.post(
    '/admin/chaos',
    {
      schema: {
        body: Type.Object(
          {
            fault: faultNames.length > 0 ? Type.Union(faultNames) : Type.Never(),
            params: Params,
            durationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'the fault ends by itself after this long' })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const fault = await app.chaos.activate(req.body.fault, req.body.params, req.body.durationSeconds)
      return { fault, active: app.chaos.list() }
    },
  )

  app.post(
    '/admin/chaos/actions',
    {
      schema: {
        body: Type.Object(
          { action: actionNames.length > 0 ? Type.Union(actionNames) : Type.Never(), params: Params },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => ({ action: req.body.action, result: await app.chaos.runAction(app.strategyContext, req.body.action, req.body.params) }),
  )

  app.delete(
    '/admin/chaos/:fault',
    { schema: { params: Type.Object({ fault: Type.Union(faultNames) }, { additionalProperties: false }) } },
    async (req) => {
      await app.chaos.deactivate(req.params.fault)
      return { active: app.chaos.list() }
    },
  )

  app.delete('/admin/chaos', async () => {
    await app.chaos.deactivate()
    return { active: app.chaos.list() }
  })
}

export default chaos
