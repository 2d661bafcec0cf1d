import { type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions, type RouteOptions } from 'fastify'
import type { Config } from './config.js'
import { RETRY_AFTER_SECONDS } from './errors.js'
import consistency from './plugins/app/consistency.js'
import { lazyChildLogger } from './lazy-child-logger.js'
import core from './plugins/app/core.js'
import writeQueue from './plugins/app/write-queue.js'
import config from './plugins/external/config.js'
import metrics from './plugins/external/metrics.js'
import mysql from './plugins/external/mysql.js'
import redis from './plugins/external/redis.js'
import admin from './routes/admin/index.js'
import health from './routes/health.js'
import orders from './routes/orders.js'
import { formatSchemaErrors } from './validation.js'

/** Levels at which Fastify's info-level request lines are written. */
const REQUEST_LOG_LEVELS = new Set(['info', 'debug', 'trace'])

export interface BuildOptions {
  /** Fastify logger option (tests pass false). Defaults to JSON logs at config.LOG_LEVEL. */
  logger?: FastifyServerOptions['logger']
  /** Called for every route as it is registered (tests enumerate the routes, admin ones included). */
  onRoute?: (route: RouteOptions) => void
  /** Registered after the service's own routes (bench/app-bare-server.ts adds a bare route beside them). */
  extraPlugins?: FastifyPluginAsync[]
}

/**
 * Builds the order service: external plugins (config, metrics, Redis, MySQL), our parts, then the
 * routes. Every resource is owned by one plugin and released by its onClose, so the app can be
 * built many times in one process and `app.close()` leaves nothing open.
 */
export async function buildApp(cfg: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? { level: cfg.LOG_LEVEL, ...(cfg.REPLICA_NAME ? { base: { replica: cfg.REPLICA_NAME } } : {}) },
    bodyLimit: cfg.BODY_LIMIT_BYTES,
    // Refuse what the schema does not name instead of silently dropping it, and never coerce a
    // body's types ("5" is not a quantity). Ids are strings with a pattern, so params need none.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, verbose: true } },
    schemaErrorFormatter: formatSchemaErrors,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    childLoggerFactory: lazyChildLogger,
    // Fastify's per-request lines ("incoming request", "request completed") are at info: at a
    // quieter level they are never written, yet Fastify would still build their arguments on every
    // request. Errors are logged by the error handler whatever this says.
    logController: new LogController({ disableRequestLogging: !REQUEST_LOG_LEVELS.has(cfg.LOG_LEVEL) }),
  }).withTypeProvider<TypeBoxTypeProvider>()
  if (opts.onRoute) app.addHook('onRoute', opts.onRoute)

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      return reply.code(400).send({ statusCode: 400, code: 'CACHELAB_INVALID_INPUT', error: 'Bad Request', message: err.message })
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    if (status >= 500) req.log.error({ err }, 'request failed')
    // Our coded 5xx errors say what is down; anything else is a bug and its details stay in the log.
    const known = status < 500 || err.code?.startsWith('CACHELAB_')
    return reply.code(status).send({
      statusCode: status,
      code: err.code,
      error: status >= 500 ? (status === 503 ? 'Service Unavailable' : 'Internal Server Error') : (err.name === 'FastifyError' ? httpName(status) : err.name),
      message: known ? err.message : 'internal error',
    })
  })
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ statusCode: 404, code: 'CACHELAB_ROUTE_NOT_FOUND', error: 'Not Found', message: `no route ${req.method} ${req.url.split('?')[0]}` })
  })

  await app.register(config, { config: cfg })
  await app.register(metrics)
  await app.register(redis)
  await app.register(mysql)
  await app.register(core)
  await app.register(consistency)
  await app.register(writeQueue)
  await app.register(health)
  await app.register(orders)
  await app.register(admin, { token: app.config.ADMIN_TOKEN })
  for (const plugin of opts.extraPlugins ?? []) await app.register(plugin)
  await app.ready()
  return app as unknown as FastifyInstance
}

function httpName(status: number): string {
  return ({ 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests' } as Record<number, string>)[status] ?? 'Error'
}
