import { createConnection } from 'node:net'

/**
 * Where the tests find Redis and MySQL: REDIS_URL / MYSQL_URL when set, else the local services.
 * When neither is set and nothing answers locally, but a Docker engine does, vitest's global setup
 * (test/global-setup.ts) starts containers with testcontainers and sets the URLs.
 */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'

/** True when something accepts TCP connections at host:port within `ms`. */
export function canConnect(host: string, port: number, ms = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port })
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(ms, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

/** A MySQL URL for a database of its own (parallel test files never share tables). */
export function mysqlUrlFor(database: string, base = MYSQL_URL): string {
  const u = new URL(base)
  u.pathname = `/${database}`
  return u.toString()
}
