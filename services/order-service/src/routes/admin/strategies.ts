import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type TSchema } from 'typebox'
import { MODES } from '../../strategies/catalogue.js'
import { FAMILIES, FAMILY_PARAMS } from '../../strategies/families.js'
import { catalogue } from '../../strategies/registry.js'

// The body schema is generated from the catalogue, so a new mode or parameter is accepted (and an
// unknown one refused, with the allowed values in the message) without touching this file.
function patchSchema(): TSchema {
  const families: Record<string, TSchema> = {}
  for (const f of FAMILIES) {
    const params = FAMILY_PARAMS[f]
    families[f] = Type.Optional(
      Type.Object(
        {
          mode: Type.Optional(Type.Union(MODES[f].map((m) => Type.Literal(m.name)))),
          params: Type.Optional(Type.Object(Object.fromEntries(Object.entries(params.properties).map(([k, v]) => [k, Type.Optional(v as TSchema)])), { additionalProperties: false, minProperties: 1 })),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    )
  }
  return Type.Object(families, { additionalProperties: false, minProperties: 1 })
}

const strategies: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/admin/strategies', async () => ({ strategies: app.strategies.current(), catalogue: catalogue() }))

  app.put('/admin/strategies', { schema: { body: patchSchema() } }, async (req) => ({ strategies: await app.strategies.update(req.body) }))

  app.delete('/admin/strategies', async () => ({ strategies: await app.strategies.reset() }))
}

export default strategies
