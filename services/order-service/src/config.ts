import { envSchema } from 'env-schema'
import { Type, type Static, type TObject } from 'typebox'

// Every setting comes from the environment and is validated once, at start: a bad value stops the
// service with a message that names it, instead of failing later on the first request.
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port (0 = any free port)' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'bind address; 0.0.0.0 in containers' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'Redis connection URL' }),
  MYSQL_URL: Type.String({ pattern: '^mysql://', default: 'mysql://root@127.0.0.1:3306/test', description: 'MySQL/MariaDB connection URL (the database must exist)' }),
  KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_-]{1,64}$', default: 'cachelab:', description: 'prefix of every Redis key and channel this service uses' }),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'bearer token of the admin API; generated and logged once when unset' })),
  LOG_LEVEL: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info' }),
  MIGRATE_ON_START: Type.Boolean({ default: true, description: 'apply pending migrations at start' }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 250, description: 'bound on every Redis command; past it the read falls back to MySQL' }),
  REDIS_MAX_PENDING: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: 'Redis commands sent and not yet answered, at most; beyond it a command fails at once (a stalled Redis cannot pile them up)' }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60000, default: 2000 }),
  MYSQL_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 20 }),
  MYSQL_QUEUE_LIMIT: Type.Integer({ minimum: 1, maximum: 100000, default: 2000, description: 'requests waiting for a pool connection; beyond it a query fails at once' }),
  MYSQL_QUERY_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 600000, default: 5000, description: 'bound on every MySQL call, pool wait included' }),
  MYSQL_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60000, default: 2000 }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'requests per client IP per window on the public order routes, per replica (0 = no limit: load tests need none)' }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 1000, description: 'the rate limit window' }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 256, maximum: 10485760, default: 16384 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, maximum: 120000, default: 10000 }),
  METRICS_ENABLED: Type.Boolean({ default: true, description: 'collect metrics (off only to measure what they cost)' }),
  AUDIT_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 0, description: 'consistency auditor: sample cached orders against MySQL this often (0 = only on demand)' }),
  AUDIT_SAMPLE_SIZE: Type.Integer({ minimum: 1, maximum: 100_000, default: 200, description: 'consistency auditor: cached orders compared per periodic audit' }),
  REPLICA_NAME: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'name of this replica in logs; defaults to host:pid' })),
})

export type Config = Static<typeof ConfigSchema>

/** Reads and validates the environment (or `env` when given), applying `overrides` last. */
export function loadConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  return loadEnvConfig(ConfigSchema, overrides, env)
}

/** The same loading for any process's schema (the order worker has its own). */
export function loadEnvConfig<S extends TObject>(schema: S, overrides: Partial<Static<S>>, env: NodeJS.ProcessEnv): Static<S> {
  // Overrides (tests, the runner) go through the same schema as the environment.
  const data = { ...pickStrings(schema, env), ...stringifyValues(overrides as Record<string, unknown>) }
  return envSchema<Static<S>>({ schema, data, env: false, dotenv: false })
}

function pickStrings(schema: TObject, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of Object.keys(schema.properties)) {
    const v = env[key]
    if (v !== undefined && v !== '') out[key] = v
  }
  return out
}

function stringifyValues(obj: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = String(v)
  return out
}
