import type { FastifyReply, onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { Metrics } from '../../metrics.js'
import type { HistogramSeries } from '../../series-histogram.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** One Registry per app instance, HTTP latency by route pattern, and GET /metrics. */
export default fp(
  async (app) => {
    const metrics = new Metrics({ enabled: app.config.METRICS_ENABLED })
    app.decorate('metrics', metrics)

    if (metrics.enabled) {
      // The route pattern, never the raw URL: an id in a label would explode cardinality. Each route
      // gets its own synchronous onResponse hook with its label sets resolved once (per method and
      // status), and Fastify already times every request that has an onResponse hook
      // (reply.elapsedTime): a request costs two map lookups and a bucket search.
      const timerFor = (route: string) => {
        const byMethod = new Map<string, Map<number, HistogramSeries>>()
        return (method: string, reply: FastifyReply) => {
          let byStatus = byMethod.get(method)
          if (!byStatus) byMethod.set(method, (byStatus = new Map()))
          let s = byStatus.get(reply.statusCode)
          if (!s) {
            s = metrics.httpDuration.labels({ method, route, status_code: String(reply.statusCode) })
            byStatus.set(reply.statusCode, s)
          }
          s.observe(reply.elapsedTime / 1000)
        }
      }
      app.addHook('onRoute', (route) => {
        const observe = timerFor(route.url)
        const hook: onResponseHookHandler = (req, reply, done) => {
          observe(req.method, reply)
          done()
        }
        route.onResponse = [...(route.onResponse ? [route.onResponse].flat() : []), hook]
      })
      // Requests that matched no route (404s) run no route's hooks.
      const unmatched = timerFor('unmatched')
      app.addHook('onResponse', (req, reply, done) => {
        if (req.is404) unmatched(req.method, reply)
        done()
      })
    }

    app.get('/metrics', async (_req, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    })

    app.addHook('onClose', async () => {
      metrics.registry.clear()
    })
  },
  { name: 'metrics', dependencies: ['config'] },
)
