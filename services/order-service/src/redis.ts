import { Redis } from 'ioredis'

export interface RedisOptions {
  url: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  name: string
}

/**
 * The command client. A Redis outage must cost a request at most one bounded wait: commands time
 * out (`commandTimeout`), and while disconnected they fail at once instead of queueing in an
 * unbounded offline queue. Reconnection is automatic, with capped backoff.
 */
export function createRedis(opts: RedisOptions): Redis {
  return new Redis(opts.url, {
    connectionName: opts.name,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
    // Reads race fills and deletes; never let a reconnect replay them out of order.
    autoResendUnfulfilledCommands: false,
  })
}

/** A subscriber connection: it queues its SUBSCRIBE until connected and resubscribes after a reconnect. */
export function createSubscriber(opts: RedisOptions): Redis {
  return new Redis(opts.url, {
    connectionName: `${opts.name}:sub`,
    connectTimeout: opts.connectTimeoutMs,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
  })
}

/** Resolves when the client is ready, or after `ms` (the service starts degraded without Redis). */
export function waitUntilReady(client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer)
      client.off('ready', onReady)
      resolve(ok)
    }
    const onReady = () => done(true)
    const timer = setTimeout(() => done(false), ms)
    client.on('ready', onReady)
  })
}
