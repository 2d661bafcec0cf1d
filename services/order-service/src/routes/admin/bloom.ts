import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { BloomInactive } from '../../errors.js'
import type { BloomControl } from '../../strategies/types.js'

const RebuildBody = Type.Object(
  {
    scope: Type.Optional(
      Type.Union([Type.Literal('all'), Type.Literal('local')], {
        default: 'all',
        description: 'all: every replica rebuilds its filter (this one before answering, the others within a second); local: only this replica',
      }),
    ),
  },
  { additionalProperties: false },
)

const bloom: FastifyPluginAsyncTypebox = async (app) => {
  const activeFilter = (): BloomControl => {
    const filter = app.strategies.active.penetration.bloom
    if (!filter) {
      const mode = app.strategies.current().penetration.mode
      throw new BloomInactive(`no Bloom filter is active: the penetration mode is "${mode}"; switch it to "bloom" or "bloom+null-cache" first`)
    }
    return filter
  }

  // This replica's filter: size, hashes, fill, and the measured false-positive rate.
  app.get('/admin/bloom', async () => {
    const filter = app.strategies.active.penetration.bloom
    return { mode: app.strategies.current().penetration.mode, active: filter !== undefined, ...(filter ? { filter: filter.stats() } : {}) }
  })

  // Rebuild from MySQL and the creation journal (after deletions, or to resize); the current filter serves meanwhile.
  app.post(
    '/admin/bloom/rebuild',
    {
      schema: { body: RebuildBody },
      // No body at all (a bare `curl -X POST`) means the defaults.
      preValidation: async (req) => {
        req.body ??= {}
      },
    },
    async (req) => {
    const scope = req.body.scope ?? 'all'
    const filter = activeFilter()
    const stats = scope === 'all' ? await filter.rebuildEverywhere() : await filter.rebuild('admin')
    return { scope, filter: stats }
    },
  )
}

export default bloom
