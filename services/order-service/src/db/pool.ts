import mysql, { type Pool } from 'mysql2/promise'

export interface PoolOptions {
  url: string
  connectionLimit: number
  queueLimit: number
  connectTimeoutMs: number
}

/**
 * A mysql2 pool with the settings the service depends on: BIGINTs as strings (ids stay exact),
 * UTC everywhere, a bounded wait queue (`queueLimit: 0` would be unbounded) and a connect timeout,
 * so a dead database fails requests promptly instead of piling them up.
 */
export function createPool(opts: PoolOptions): Pool {
  const pool = mysql.createPool({
    uri: opts.url,
    connectionLimit: opts.connectionLimit,
    queueLimit: opts.queueLimit,
    connectTimeout: opts.connectTimeoutMs,
    waitForConnections: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    timezone: 'Z',
    dateStrings: false,
    enableKeepAlive: true,
    maxIdle: opts.connectionLimit,
    idleTimeout: 60_000,
    multipleStatements: false,
    // Affected rows = rows changed, not rows matched: an insert whose ON DUPLICATE KEY UPDATE
    // changes nothing reports 0, which is how the repository (and the seed) tell a duplicate.
    flags: ['-FOUND_ROWS'],
  })
  // CURRENT_TIMESTAMP must be UTC to match `timezone: 'Z'`.
  pool.pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00'")
  })
  return pool
}

/** Database name from a mysql:// URL (used by tools that create or drop it). */
export function databaseOf(url: string): string {
  const name = new URL(url).pathname.replace(/^\//, '')
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new Error(`MYSQL_URL must name a database (letters, digits, _), got "${name}"`)
  return name
}

/** The same URL without the database, to connect before it exists. */
export function serverUrlOf(url: string): string {
  const u = new URL(url)
  u.pathname = '/'
  return u.toString()
}
