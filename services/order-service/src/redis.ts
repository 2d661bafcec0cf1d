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
 * out after `commandTimeoutMs`, and while disconnected they fail at once instead of queueing in an
 * unbounded offline queue. Reconnection is automatic, with capped backoff.
 *
 * A timed-out command still waits in the command queue for its reply, so on a connection that has
 * gone silent (Redis paused, a network black hole) that queue would grow with every request: past
 * `maxPending` commands a new one fails at once (the read falls back to MySQL), and a connection
 * silent for `socketTimeoutFor(commandTimeoutMs)` while commands wait is dropped and reconnected,
 * which fails what it held.
 *
 * Both deadlines are kept by one watchdog per client (`guardCommands`), not by ioredis's
 * `commandTimeout` and `socketTimeout` options: those arm a timer per command and per socket read,
 * and clear the command's with `delete`, which turns every Command into a slow dictionary-mode
 * object (`npm run bench:perf`: ~1 µs and a megamorphic ioredis read path on every cache hit).
 */
export function createRedis(opts: RedisOptions): Redis {
  const client = new Redis(opts.url, {
    connectionName: opts.name,
    connectTimeout: opts.connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
    // Reads race fills and deletes; never let a reconnect replay them out of order.
    autoResendUnfulfilledCommands: false,
  })
  guardCommands(client, { commandTimeoutMs: opts.commandTimeoutMs, socketTimeoutMs: socketTimeoutFor(opts.commandTimeoutMs), maxPending: opts.maxPending ?? 10_000 })
  return client
}

const SENT_AT = Symbol('cachelab.sentAt')
type StampedCommand = Command & { [SENT_AT]?: number }

export interface CommandGuardOptions {
  /** A command unanswered this long is rejected ("Command timed out", as ioredis says it). */
  commandTimeoutMs: number
  /** A connection that receives nothing this long while commands wait is destroyed (and reconnects). */
  socketTimeoutMs: number
  /** Commands sent and not yet answered, at most; beyond it a new command fails at once. */
  maxPending: number
}

/**
 * Bounds every command of a client with one interval timer, the way Node's HTTP server checks its
 * request timeouts (`connectionsCheckingInterval`) instead of a timer per request. Its single entry
 * point for commands, `sendCommand`, stamps each command and refuses it past `maxPending`; every
 * tick (a tenth of the command timeout) rejects the commands past their deadline, oldest first (the
 * queue is in send order), and drops a connection that has read nothing for `socketTimeoutMs`
 * while commands wait. A deadline is kept to within one tick. The timer stops when the client ends.
 */
export function guardCommands(client: Redis, opts: CommandGuardOptions): void {
  const send = client.sendCommand.bind(client)
  client.sendCommand = (command: StampedCommand, stream?: Parameters<Redis['sendCommand']>[1]) => {
    if (client.commandQueue.length >= opts.maxPending) {
      command.reject(new Error(`${opts.maxPending} Redis commands are already waiting for an answer (maxPending); not sending more`))
      return command.promise
    }
    command[SENT_AT] = performance.now()
    return send(command, stream)
  }

  let watched: Redis['stream'] | undefined
  let bytesSeen = -1
  let quietSince = 0
  const tick = () => {
    const now = performance.now()
    const queue = client.commandQueue
    for (let i = 0; i < queue.length; i++) {
      const command = queue.peekAt(i)!.command as StampedCommand
      const sentAt = command[SENT_AT]
      if (sentAt === undefined) continue // not sent through sendCommand (none are, today)
      if (now - sentAt < opts.commandTimeoutMs) break // in send order: the rest are younger
      if (!command.isSettled) command.reject(new Error('Command timed out'))
    }
    const stream = client.stream
    if (queue.length === 0 || !stream || stream !== watched || stream.bytesRead !== bytesSeen) {
      watched = stream
      bytesSeen = stream?.bytesRead ?? -1
      quietSince = now
    } else if (now - quietSince >= opts.socketTimeoutMs) {
      quietSince = now
      stream.destroy(new Error(`Socket timeout: nothing received in ${opts.socketTimeoutMs} ms while ${queue.length} commands waited`))
    }
  }
  const timer = setInterval(tick, Math.max(5, Math.ceil(opts.commandTimeoutMs / 10)))
  timer.unref()
  client.once('end', () => clearInterval(timer))
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
