import { Redis, type Command } from 'ioredis'

export interface RedisOptions {
  url: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  name: string
  /** Commands sent and not yet answered, at most (default 10000); beyond it a command fails at once. */
  maxPending?: number
}

/**
 * The command client. A Redis outage must cost a request at most one bounded wait: commands time
 * out (`commandTimeout`), and while disconnected they fail at once instead of queueing in an
 * unbounded offline queue. Reconnection is automatic, with capped backoff.
 *
 * A timed-out command still waits in the command queue for its reply, so on a connection that has
 * gone silent (Redis paused, a network black hole) that queue would grow with every request: past
 * `maxPending` commands a new one fails at once (the read falls back to MySQL), and a connection
 * silent for `socketTimeoutFor(commandTimeoutMs)` while commands wait is dropped and reconnected,
 * which fails what it held.
 */
export function createRedis(opts: RedisOptions): Redis {
  const client = new Redis(opts.url, {
    connectionName: opts.name,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
    // Reads race fills and deletes; never let a reconnect replay them out of order.
    autoResendUnfulfilledCommands: false,
    socketTimeout: socketTimeoutFor(opts.commandTimeoutMs),
  })
  capPending(client, opts.maxPending ?? 10_000)
  return client
}

/** ioredis has no limit on its command queue: its single entry point for commands gets one. */
function capPending(client: Redis, max: number): void {
  const send = client.sendCommand.bind(client)
  client.sendCommand = (command: Command, stream?: Parameters<Redis['sendCommand']>[1]) => {
    if (client.commandQueue.length >= max) {
      command.reject(new Error(`${max} Redis commands are already waiting for an answer (maxPending); not sending more`))
      return command.promise
    }
    return send(command, stream)
  }
}

/**
 * How long a connection with commands pending may stay silent before it is dropped. Generous: a
 * busy process whose event loop stalls for a second must not drop a healthy connection (timers run
 * before the reply is read); the pending cap bounds memory meanwhile.
 */
export function socketTimeoutFor(commandTimeoutMs: number): number {
  return Math.max(5000, 10 * commandTimeoutMs)
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
