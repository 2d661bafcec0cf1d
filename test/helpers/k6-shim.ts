import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads'

/**
 * The part of k6's JavaScript API that k6/lib/cachelab.js uses, for running it in Node where no k6
 * binary exists: `k6` (check, fail, sleep), `k6/http` (synchronous requests, as k6's are: the
 * caller blocks like a k6 VU), `k6/data`
 * (SharedArray), `k6/execution`, `k6/metrics` (Counter) and the `__ENV` global. Tests install it with
 * vi.mock and read what the script did from `k6Shim()`: every request with its tags, every check.
 * The service under test must run in another process (this one blocks while a request runs).
 */
export interface ShimRequest {
  method: string
  url: string
  body: string | null
  tags: Record<string, string>
  status: number
}

export interface ShimState {
  env: Record<string, string>
  options: Record<string, unknown>
  iterationInTest: number
  requests: ShimRequest[]
  checks: { name: string; ok: boolean }[]
  samples: { name: string; value: number; tags: Record<string, string> | undefined }[]
}

const KEY = '__cachelabK6Shim'

/** The shim's state, shared by every (re-)import of the mocked modules. */
export function k6Shim(): ShimState {
  const g = globalThis as unknown as Record<string, ShimState>
  if (!g[KEY]) {
    g[KEY] = { env: {}, options: {}, iterationInTest: 0, requests: [], checks: [], samples: [] }
    Object.defineProperty(globalThis, '__ENV', { get: () => g[KEY]!.env, configurable: true })
  }
  return g[KEY]
}

/** Go's canonical header key (what k6 shows): content-type → Content-Type. */
function canonical(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
}

function durationMs(value: unknown, fallback: number): number {
  if (typeof value !== 'string') return fallback
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(value)
  if (!m) throw new Error(`k6 shim: unsupported duration ${value}`)
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1)
}

// Requests run on a worker thread (fetch), and the caller waits for each one with Atomics.wait:
// synchronous like a k6 VU's, without a process per request.
const FETCH_WORKER = `
const { parentPort } = require('node:worker_threads')
parentPort.on('message', async ({ signal, port, method, url, body, headers, timeoutMs }) => {
  let result
  try {
    const r = await fetch(url, { method, headers, body: body === null ? undefined : body, signal: AbortSignal.timeout(timeoutMs) })
    result = { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() }
  } catch (e) {
    result = { status: 0, headers: {}, body: '', error: String((e.cause && e.cause.code) || e.message) }
  }
  port.postMessage(result)
  port.close()
  Atomics.store(signal, 0, 1)
  Atomics.notify(signal, 0)
})`

let fetcher: Worker | undefined

function syncFetch(method: string, url: string, body: string | null, headers: Record<string, string>, timeoutMs: number): { status: number; headers: Record<string, string>; body: string; error?: string } {
  if (!fetcher) {
    fetcher = new Worker(FETCH_WORKER, { eval: true })
    fetcher.unref()
  }
  const signal = new Int32Array(new SharedArrayBuffer(4))
  const { port1, port2 } = new MessageChannel()
  fetcher.postMessage({ signal, port: port2, method, url, body, headers, timeoutMs }, [port2])
  if (Atomics.wait(signal, 0, 0, timeoutMs + 10_000) === 'timed-out') throw new Error(`k6 shim: ${method} ${url} got no result`)
  const message = receiveMessageOnPort(port1)
  port1.close()
  if (!message) throw new Error(`k6 shim: ${method} ${url} lost its result`)
  return message.message
}

export interface ShimResponse {
  status: number
  body: string
  headers: Record<string, string>
  error: string
  json(selector?: string): unknown
}

function request(method: string, url: string, body: string | null, params: { headers?: Record<string, string>; tags?: Record<string, string>; timeout?: string } = {}): ShimResponse {
  const raw = syncFetch(method, url, body, params.headers ?? {}, durationMs(params.timeout, 60_000))
  k6Shim().requests.push({ method, url, body, tags: params.tags ?? {}, status: raw.status })
  return {
    status: raw.status,
    body: raw.body,
    headers: Object.fromEntries(Object.entries(raw.headers).map(([k, v]) => [canonical(k), v])),
    error: raw.error ?? '',
    json(selector?: string) {
      const parsed = JSON.parse(raw.body) as Record<string, unknown>
      return selector === undefined ? parsed : selector.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], parsed)
    },
  }
}

export const http = {
  request,
  get: (url: string, params?: Parameters<typeof request>[3]) => request('GET', url, null, params),
  setResponseCallback: () => {},
  expectedStatuses: () => ({}),
}

export const k6 = {
  check(value: unknown, sets: Record<string, (v: unknown) => unknown>): boolean {
    let all = true
    for (const [name, fn] of Object.entries(sets)) {
      const ok = !!fn(value)
      k6Shim().checks.push({ name, ok })
      all &&= ok
    }
    return all
  },
  fail(message: string): never {
    throw new Error(message)
  },
  sleep(seconds: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000)
  },
}

export const data = {
  // k6 hands every VU the same array; here there is one VU.
  SharedArray: class {
    constructor(_name: string, fn: () => unknown[]) {
      return fn()
    }
  },
}

export const execution = {
  get test() {
    return { options: k6Shim().options }
  },
  get scenario() {
    return { iterationInTest: k6Shim().iterationInTest }
  },
}

export const metrics = {
  Counter: class {
    constructor(private readonly name: string) {}
    add(value: number, tags?: Record<string, string>) {
      k6Shim().samples.push({ name: this.name, value, tags })
    }
  },
}
