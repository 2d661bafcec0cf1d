import { execFileSync } from 'node:child_process'
import { canConnect } from './helpers/services.js'

/**
 * Tests use REDIS_URL / MYSQL_URL, else the local services. Only when neither is given, the local
 * ones do not answer, and a Docker engine does, are containers started (testcontainers is imported
 * here, lazily, and never otherwise: without an engine it throws at import time of its strategy).
 */
export default async function setup(): Promise<(() => Promise<void>) | void> {
  if (process.env.REDIS_URL && process.env.MYSQL_URL) return
  const [redisUp, mysqlUp] = await Promise.all([canConnect('127.0.0.1', 6379), canConnect('127.0.0.1', 3306)])
  if (redisUp && mysqlUp) return
  if (!dockerAnswers()) {
    throw new Error(
      `no ${!redisUp ? 'Redis (127.0.0.1:6379)' : ''}${!redisUp && !mysqlUp ? ' and no ' : ''}${!mysqlUp ? 'MySQL (127.0.0.1:3306)' : ''} for the tests, and no Docker engine: start them or set REDIS_URL / MYSQL_URL`,
    )
  }
  const { RedisContainer } = await import('@testcontainers/redis')
  const { MySqlContainer } = await import('@testcontainers/mysql')
  const stops: (() => Promise<unknown>)[] = []
  if (!redisUp && !process.env.REDIS_URL) {
    const redis = await new RedisContainer('redis:7.4-alpine').start()
    process.env.REDIS_URL = redis.getConnectionUrl()
    stops.push(() => redis.stop())
  }
  if (!mysqlUp && !process.env.MYSQL_URL) {
    const mysql = await new MySqlContainer('mysql:8.4').withRootPassword('root').withDatabase('test').start()
    process.env.MYSQL_URL = `mysql://root:root@${mysql.getHost()}:${mysql.getPort()}/test`
    stops.push(() => mysql.stop())
  }
  return async () => {
    for (const stop of stops) await stop()
  }
}

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 5000 })
    return true
  } catch {
    return false
  }
}
