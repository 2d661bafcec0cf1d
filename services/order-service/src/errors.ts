import createError from '@fastify/error'

// Errors with stable codes: tests, the runner and clients match on `code`, never on message text.
export const DatabaseUnavailable = createError('CACHELAB_DB_UNAVAILABLE', 'database unavailable: %s', 503)
export const DatabaseTimeout = createError('CACHELAB_DB_TIMEOUT', 'database did not answer within %d ms', 503)
/**
 * A write was sent to MySQL but no answer came (deadline, or the connection died): it may or may
 * not have been applied. Never "not written": the message names the order so the client can look.
 */
export const WriteOutcomeUnknown = createError('CACHELAB_DB_WRITE_UNKNOWN', '%s', 503)
export const CacheUnavailable = createError('CACHELAB_CACHE_UNAVAILABLE', 'cache unavailable: %s', 503)
export const Overloaded = createError('CACHELAB_OVERLOADED', 'service overloaded: %s', 503)
/** The avalanche protection refused a MySQL read (bulkhead full, or no slot in time): shed load, retry later. */
export const DatabaseShed = createError('CACHELAB_DB_SHED', 'database read shed to protect MySQL: %s', 503)
/** Breakdown `mutex` with `lockFallback: fail`: another request holds the rebuild lock too long. */
export const LockWaitTimeout = createError('CACHELAB_LOCK_TIMEOUT', 'order %s is being loaded by another request; gave up waiting after %d ms', 503)
export const OrderNotFound = createError('CACHELAB_ORDER_NOT_FOUND', 'order %s not found', 404)
export const OrderExists = createError('CACHELAB_ORDER_EXISTS', 'order %s already exists', 409)
export const InvalidInput = createError('CACHELAB_INVALID_INPUT', '%s', 400)
export const InvalidStrategy = createError('CACHELAB_INVALID_STRATEGY', '%s', 400)
export const InvalidChaos = createError('CACHELAB_INVALID_CHAOS', '%s', 400)
export const BloomInactive = createError('CACHELAB_BLOOM_INACTIVE', '%s', 409)
export const RateLimited = createError('CACHELAB_RATE_LIMITED', 'rate limit of the public API reached (%d requests per %d ms per client); retry in %s', 429)
export const Unauthorized = createError('CACHELAB_UNAUTHORIZED', '%s', 401)
export const QueueFull = createError('CACHELAB_QUEUE_FULL', 'write queue full: %d orders are waiting (queueMaxDepth); retry later', 503)
export const QueueUnavailable = createError('CACHELAB_QUEUE_UNAVAILABLE', 'write queue unavailable: %s', 503)
export const DeadLetterNotFound = createError('CACHELAB_DEAD_LETTER_NOT_FOUND', 'dead letter %s not found', 404)

/** Seconds a client should wait before retrying a 503 of ours. */
export const RETRY_AFTER_SECONDS = 1

/** True for errors caused by the database being down or unreachable (not by a bad query). */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'EPIPE' ||
    code === 'ENOTFOUND' ||
    code === 'EHOSTUNREACH' ||
    code === 'PROTOCOL_CONNECTION_LOST' ||
    code === 'PROTOCOL_SEQUENCE_TIMEOUT' ||
    code === 'ER_CON_COUNT_ERROR' ||
    code === 'ER_SERVER_SHUTDOWN' ||
    code === 'POOL_CLOSED' ||
    (typeof (err as Error | null)?.message === 'string' && /queue limit reached|connection is in closed state|Can't add new command when connection is in closed state/i.test((err as Error).message))
  )
}
