import fp from 'fastify-plugin'
import type { Pool } from 'mysql2/promise'
import { ensureDatabase } from '../../db/database.js'
import { migrate } from '../../db/migrate.js'
import { createPool } from '../../db/pool.js'

declare module 'fastify' {
  interface FastifyInstance {
    mysql: Pool
  }
}

/** One mysql2 pool per app instance; migrations applied at start unless MIGRATE_ON_START=false. */
export default fp(
  async (app) => {
    const c = app.config
    const pool = createPool({ url: c.MYSQL_URL, connectionLimit: c.MYSQL_POOL_SIZE, queueLimit: c.MYSQL_QUEUE_LIMIT, connectTimeoutMs: c.MYSQL_CONNECT_TIMEOUT_MS })
    app.decorate('mysql', pool)
    app.addHook('onClose', async () => {
      await pool.end()
    })
    if (c.MIGRATE_ON_START) {
      try {
        await ensureDatabase(c.MYSQL_URL)
        for (const name of await migrate(pool)) app.log.info({ migration: name }, 'migration applied')
      } catch (err) {
        // A database that is down at start is a degraded state, not a crash: hits are still served.
        app.log.error({ err }, 'migrations could not run; is MySQL reachable?')
      }
    }
  },
  { name: 'mysql', dependencies: ['config'] },
)
