import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../services/order-service/src/config.js'

describe('config from the environment', () => {
  it('applies defaults', () => {
    const c = loadConfig({}, {})
    expect(c).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379', KEY_PREFIX: 'cachelab:', MIGRATE_ON_START: true })
    expect(c.ADMIN_TOKEN).toBeUndefined()
  })

  it('coerces numbers and booleans from strings', () => {
    const c = loadConfig({}, { PORT: '8080', MIGRATE_ON_START: 'false', REDIS_COMMAND_TIMEOUT_MS: '100' })
    expect(c).toMatchObject({ PORT: 8080, MIGRATE_ON_START: false, REDIS_COMMAND_TIMEOUT_MS: 100 })
  })

  for (const [name, value, message] of [
    ['PORT', 'http', /PORT must be integer/],
    ['PORT', '70000', /PORT must be <= 65535/],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL must match pattern/],
    ['MYSQL_URL', 'postgres://x', /MYSQL_URL must match pattern/],
    ['ADMIN_TOKEN', 'short', /ADMIN_TOKEN must NOT have fewer than 16 characters/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
  ] as const) {
    it(`names the bad value: ${name}=${value}`, () => {
      expect(() => loadConfig({}, { [name]: value })).toThrow(message)
    })
  }
})
