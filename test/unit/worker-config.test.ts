import { describe, expect, it } from 'vitest'
import { loadWorkerConfig } from '../../services/order-worker/src/config.js'
import { isSystemicFailure } from '../../services/order-worker/src/worker.js'
import { DatabaseTimeout, DatabaseUnavailable } from '../../services/order-service/src/errors.js'
import { burstFor, maxGrantsIn } from '../../services/order-service/src/queue/token-bucket.js'

describe('order worker config', () => {
  it('applies defaults and shares the service\'s connection settings', () => {
    const c = loadWorkerConfig({}, {})
    expect(c).toMatchObject({ REDIS_URL: 'redis://127.0.0.1:6379', KEY_PREFIX: 'cachelab:', WORKER_METRICS_PORT: 9464, WORKER_CLAIM_IDLE_MS: 30_000, MYSQL_QUERY_TIMEOUT_MS: 5000 })
    expect(c.WORKER_NAME).toBeUndefined()
  })

  it('listens on PORT when WORKER_METRICS_PORT is unset (a supervisor handing out ports), and on WORKER_METRICS_PORT when both are set', () => {
    expect(loadWorkerConfig({}, { PORT: '4123' }).WORKER_METRICS_PORT).toBe(4123)
    expect(loadWorkerConfig({}, { PORT: '4123', WORKER_METRICS_PORT: '9000' }).WORKER_METRICS_PORT).toBe(9000)
  })

  for (const [env, message] of [
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL must match pattern/],
    [{ WORKER_METRICS_PORT: 'ninety' }, /WORKER_METRICS_PORT must be integer/],
    [{ WORKER_NAME: 'has space' }, /WORKER_NAME must match pattern/],
    [{ WORKER_CLAIM_IDLE_MS: '4000', WORKER_RETRY_MAX_MS: '1000' }, /WORKER_CLAIM_IDLE_MS \(4000\) must exceed MYSQL_QUERY_TIMEOUT_MS \(5000\)/],
    [{ WORKER_CLAIM_IDLE_MS: '6000', WORKER_RETRY_MAX_MS: '7000' }, /WORKER_CLAIM_IDLE_MS \(6000\) must exceed WORKER_RETRY_MAX_MS \(7000\)/],
    [{ WORKER_RETRY_BASE_MS: '900', WORKER_RETRY_MAX_MS: '800' }, /WORKER_RETRY_BASE_MS \(900\) must not exceed WORKER_RETRY_MAX_MS \(800\)/],
  ] as const) {
    it(`names the bad value: ${JSON.stringify(env)}`, () => {
      expect(() => loadWorkerConfig({}, env)).toThrow(message)
    })
  }
})

describe('failure classes', () => {
  it('treats MySQL being unavailable, slow or locked as systemic, and bad data as the message\'s own fault', () => {
    expect(isSystemicFailure(new DatabaseTimeout(100))).toBe(true)
    expect(isSystemicFailure(new DatabaseUnavailable('down'))).toBe(true)
    expect(isSystemicFailure(Object.assign(new Error('lock'), { code: 'ER_LOCK_WAIT_TIMEOUT' }))).toBe(true)
    expect(isSystemicFailure(Object.assign(new Error('too long'), { code: 'ER_DATA_TOO_LONG' }))).toBe(false)
    expect(isSystemicFailure(new Error('not JSON'))).toBe(false)
  })
})

describe('token bucket bound', () => {
  it('keeps any one-second window within 1.1 × the rate from 10 writes per second up', () => {
    for (const rate of [10, 15, 40, 200, 1999, 100_000]) expect(maxGrantsIn(rate, 1) / rate).toBeLessThanOrEqual(1.1)
    expect(burstFor(1)).toBe(1)
    expect(burstFor(200)).toBe(20)
  })
})
