import { request } from 'undici'
import { LabError, describeError } from './errors.js'

export interface StrategiesView {
  strategies: Record<string, { mode: string; params: Record<string, unknown> }>
}

/** The admin API of one service endpoint (bearer token), as the runner and effects modules use it. */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs = 15_000,
  ) {}

  /** Any admin call; a non-2xx answer throws with the service's own message. */
  async call<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let res
    try {
      res = await request(new URL(path, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
    } catch (err) {
      throw new LabError(`${method} ${path} at ${this.baseUrl} failed: ${describeError(err)}`)
    }
    const text = await res.body.text()
    if (res.statusCode >= 300) {
      let message = text
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text
      } catch {
        // not JSON: keep the text
      }
      if (res.statusCode === 401) throw new LabError(`${method} ${path} at ${this.baseUrl}: 401 ${message} (pass the service's token with --admin-token or ADMIN_TOKEN)`)
      throw new LabError(`${method} ${path} at ${this.baseUrl}: ${res.statusCode} ${message}`)
    }
    return (text ? JSON.parse(text) : undefined) as T
  }

  strategies(): Promise<StrategiesView> {
    return this.call('GET', '/admin/strategies')
  }

  setStrategies(patch: Record<string, unknown>): Promise<StrategiesView> {
    return this.call('PUT', '/admin/strategies', patch)
  }

  resetStrategies(): Promise<StrategiesView> {
    return this.call('DELETE', '/admin/strategies')
  }

  flush(): Promise<{ deleted: number }> {
    return this.call('POST', '/admin/cache/flush')
  }

  warm(body: { from: number; count: number } | { ids: string[] }): Promise<{ warmed: number; missing: number }> {
    return this.call('POST', '/admin/cache/warm', body)
  }

  clearFaults(): Promise<unknown> {
    return this.call('DELETE', '/admin/chaos')
  }

  fault(fault: string, params?: Record<string, unknown>, durationSeconds?: number): Promise<unknown> {
    return this.call('POST', '/admin/chaos', { fault, ...(params ? { params } : {}), ...(durationSeconds ? { durationSeconds } : {}) })
  }

  clearFault(fault: string): Promise<unknown> {
    return this.call('DELETE', `/admin/chaos/${encodeURIComponent(fault)}`)
  }

  action(action: string, params?: Record<string, unknown>): Promise<{ result: Record<string, unknown> }> {
    return this.call('POST', '/admin/chaos/actions', { action, ...(params ? { params } : {}) })
  }
}
