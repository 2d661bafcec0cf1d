import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config & { ADMIN_TOKEN: string }
  }
}

/** The validated config, with an admin token generated (and logged once) when none was given. */
export default fp<{ config: Config }>(
  async (app, opts) => {
    let token = opts.config.ADMIN_TOKEN
    if (!token) {
      token = randomBytes(24).toString('base64url')
      app.log.warn({ adminToken: token }, 'ADMIN_TOKEN is not set: generated one for this run (set ADMIN_TOKEN to choose it)')
    }
    app.decorate('config', { ...opts.config, ADMIN_TOKEN: token })
  },
  { name: 'config' },
)
