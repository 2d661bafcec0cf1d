import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { requireToken } from './auth.js'
import bloomRoutes from './bloom.js'
import cacheRoutes from './cache.js'
import chaosRoutes from './chaos.js'
import consistencyRoutes from './consistency.js'
import queueRoutes from './queue.js'
import strategyRoutes from './strategies.js'

/** Every admin route is registered inside this scope, behind the token hook: none can slip out. */
const admin: FastifyPluginAsyncTypebox<{ token: string }> = async (app, opts) => {
  app.addHook('onRequest', requireToken(opts.token))
  await app.register(strategyRoutes)
  await app.register(chaosRoutes)
  await app.register(cacheRoutes)
  await app.register(consistencyRoutes)
  await app.register(bloomRoutes)
  await app.register(queueRoutes)
}

export default admin
