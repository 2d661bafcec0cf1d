import type { Fixture } from './fixture.js'
import { BARE_ENTRY, SERVICE_ENTRY, startServer, type ServerProcess } from './processes.js'

/** Environment of a service child in the bench's database and prefix. Logs at warn: no per-request lines. */
export function serviceEnv(fx: Fixture, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: fx.redisUrl,
    MYSQL_URL: fx.mysqlUrl,
    KEY_PREFIX: prefix,
    ADMIN_TOKEN: fx.adminToken,
    LOG_LEVEL: 'warn',
    MIGRATE_ON_START: 'false',
    ...extra,
  }
}

export function startService(fx: Fixture, name: string, prefix: string, extra: Record<string, string> = {}, nodeFlags: string[] = []): Promise<ServerProcess> {
  return startServer({ name, entry: SERVICE_ENTRY, env: serviceEnv(fx, prefix, extra), nodeFlags })
}

export function startBare(fx: Fixture, name: string, prefix: string, nodeFlags: string[] = []): Promise<ServerProcess> {
  return startServer({ name, entry: BARE_ENTRY, env: { REDIS_URL: fx.redisUrl, KEY_PREFIX: prefix }, nodeFlags })
}

/** The admin API of a running service (the strategies switch for every replica sharing its prefix). */
export class Admin {
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`)
    return (text ? JSON.parse(text) : undefined) as T
  }

  /** (Re)writes orders 1..count into the cache with the active modes' encoding and a fresh TTL. */
  async warm(count: number): Promise<void> {
    const res = await this.call<{ warmed: number }>('POST', '/admin/cache/warm', { from: 1, count })
    if (res.warmed !== count) throw new Error(`warm-up cached ${res.warmed} of ${count} orders`)
  }

  /** Drops every cached order of the prefix, then warms orders 1..count. */
  async rewarm(count: number): Promise<void> {
    await this.call('POST', '/admin/cache/flush')
    await this.warm(count)
  }
}

export interface SeriesSpec {
  name: string
  labels?: Record<string, string>
}

/** Reads counter series from one /metrics scrape (each summed over its matching label sets). */
export async function scrapeCounters(url: string, specs: SeriesSpec[]): Promise<number[]> {
  const lines = (await (await fetch(`${url}/metrics`)).text()).split('\n')
  return specs.map(({ name, labels = {} }) => {
    let sum = 0
    for (const line of lines) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
      sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return sum
  })
}

export async function scrapeCounter(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrapeCounters(url, [{ name, labels }]))[0]!
}
