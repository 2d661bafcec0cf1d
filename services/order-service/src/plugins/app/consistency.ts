import fp from 'fastify-plugin'
import { ConsistencyAuditor } from '../../consistency/auditor.js'
import { delayedDeletesFor, type DelayedDeletes } from '../../consistency/delayed-deletes.js'

declare module 'fastify' {
  interface FastifyInstance {
    delayedDeletes: DelayedDeletes
    auditor: ConsistencyAuditor
  }
}

/**
 * What the consistency modes need beyond one request: the processor of durable delete jobs (owned
 * by the app, not by a mode: jobs left by a mode that was switched off, or by a dead replica, still
 * run) and the consistency auditor. Both stop on close, before the Redis clients do.
 */
export default fp(
  async (app) => {
    const jobs = delayedDeletesFor(app.strategyContext)
    const auditor = new ConsistencyAuditor(app.redis, app.keys, app.repo, app.metrics, app.log)
    jobs.start()
    if (app.config.AUDIT_INTERVAL_MS > 0) auditor.start(app.config.AUDIT_INTERVAL_MS, app.config.AUDIT_SAMPLE_SIZE)
    app.decorate('delayedDeletes', jobs)
    app.decorate('auditor', auditor)
    app.addHook('onClose', async () => {
      await auditor.stop()
      await jobs.stop()
    })
  },
  { name: 'consistency', dependencies: ['core'] },
)
