import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CacheUnavailable } from '../../errors.js'

const AuditBody = Type.Object(
  {
    scope: Type.Optional(
      Type.Union([Type.Literal('sample'), Type.Literal('all')], {
        default: 'sample',
        description: 'sample: the next `limit` cached orders (a rolling scan); all: every cached order, up to `limit`',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'cached orders compared at most (default AUDIT_SAMPLE_SIZE for sample, 1000000 for all)' })),
  },
  { additionalProperties: false },
)

const consistency: FastifyPluginAsyncTypebox = async (app) => {
  // The delete jobs waiting (durable second deletes, retries) and the last audit's findings.
  app.get('/admin/consistency', async () => {
    let delayedDeletes
    try {
      delayedDeletes = await app.delayedDeletes.status()
    } catch (err) {
      throw new CacheUnavailable(`delete jobs could not be read (${(err as Error).message})`)
    }
    return { delayedDeletes, lastAudit: app.auditor.lastReport() }
  })

  // Compares cached orders with MySQL now; the report is also kept as the last audit.
  app.post(
    '/admin/consistency/audit',
    {
      schema: { body: AuditBody },
      // No body at all means the defaults.
      preValidation: async (req) => {
        req.body ??= {}
      },
    },
    async (req) => {
      const scope = req.body.scope ?? 'sample'
      const limit = req.body.limit ?? (scope === 'all' ? 1_000_000 : app.config.AUDIT_SAMPLE_SIZE)
      return app.auditor.audit(scope, limit)
    },
  )
}

export default consistency
