import { Type, type Static } from 'typebox'
import { ConfigSchema, loadEnvConfig } from '../../order-service/src/config.js'

// The worker shares the service's connection settings (same names, same validation) and adds its
// own. The write rate, queue depth and attempts are strategy parameters, read from Redis at run time.
export const WorkerConfigSchema = Type.Object({
  ...Type.Pick(ConfigSchema, [
    'REDIS_URL',
    'MYSQL_URL',
    'KEY_PREFIX',
    'LOG_LEVEL',
    'MIGRATE_ON_START',
    'REDIS_COMMAND_TIMEOUT_MS',
    'REDIS_CONNECT_TIMEOUT_MS',
    'MYSQL_POOL_SIZE',
    'MYSQL_QUEUE_LIMIT',
    'MYSQL_QUERY_TIMEOUT_MS',
    'MYSQL_CONNECT_TIMEOUT_MS',
    'SHUTDOWN_GRACE_MS',
  ]).properties,
  WORKER_NAME: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:@-]{1,100}$', description: 'consumer name in the group; defaults to host:pid (a restarted worker is a new consumer)' })),
  WORKER_METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9464, description: 'port of the worker\'s /metrics and /healthz (0 = any free port); unset: PORT when set, else 9464' }),
  WORKER_METRICS_HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'bind address of the metrics listener; 0.0.0.0 in containers' }),
  WORKER_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'messages read from the stream at once' }),
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 500, default: 8, description: 'inserts in flight at once (each one token of the rate limit)' }),
  WORKER_POLL_MS: Type.Integer({ minimum: 1, maximum: 10_000, default: 50, description: 'wait before reading again when the queue is empty' }),
  WORKER_CLAIM_IDLE_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000, description: 'a message unacknowledged this long by its consumer (crashed) is taken over' }),
  WORKER_RETRY_BASE_MS: Type.Integer({ minimum: 1, maximum: 600_000, default: 200, description: 'first retry delay after a failed write (doubles per attempt)' }),
  WORKER_RETRY_MAX_MS: Type.Integer({ minimum: 1, maximum: 600_000, default: 5000, description: 'cap of the retry delay' }),
})

export type WorkerConfig = Static<typeof WorkerConfigSchema>

/** Reads and validates the environment (or `env`), overrides last; throws naming the bad value. */
export function loadWorkerConfig(overrides: Partial<WorkerConfig> = {}, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  // A supervisor that hands out ports (the scenario runner, a PaaS) sets PORT: listen there.
  if (env.WORKER_METRICS_PORT === undefined && env.PORT !== undefined) env = { ...env, WORKER_METRICS_PORT: env.PORT }
  const c = loadEnvConfig(WorkerConfigSchema, overrides, env)
  // A worker must not take over messages that their owner is still retrying or writing.
  if (c.WORKER_CLAIM_IDLE_MS <= c.WORKER_RETRY_MAX_MS) throw new Error(`WORKER_CLAIM_IDLE_MS (${c.WORKER_CLAIM_IDLE_MS}) must exceed WORKER_RETRY_MAX_MS (${c.WORKER_RETRY_MAX_MS})`)
  if (c.WORKER_CLAIM_IDLE_MS <= c.MYSQL_QUERY_TIMEOUT_MS) throw new Error(`WORKER_CLAIM_IDLE_MS (${c.WORKER_CLAIM_IDLE_MS}) must exceed MYSQL_QUERY_TIMEOUT_MS (${c.MYSQL_QUERY_TIMEOUT_MS})`)
  if (c.WORKER_RETRY_BASE_MS > c.WORKER_RETRY_MAX_MS) throw new Error(`WORKER_RETRY_BASE_MS (${c.WORKER_RETRY_BASE_MS}) must not exceed WORKER_RETRY_MAX_MS (${c.WORKER_RETRY_MAX_MS})`)
  return c
}
