import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A TCP proxy for fault tests, in the spirit of Toxiproxy: put it between the service and a server
 * (Redis, MariaDB) and make the connection slow, stalled or cut, mid-stream, without touching the
 * server itself.
 *
 * - latency: every chunk waits `ms` before it is forwarded (both directions, order kept);
 * - stall: nothing is forwarded (connections stay open, bytes are held) until `resume()`, which
 *   delivers what was held; new connections are accepted but stall too;
 * - reset: every open connection is destroyed (RST), both sides; with `refuse` new ones are too;
 * - blackhole: the open connections go silent for good (bytes dropped, nothing closed, as when a
 *   NAT entry or a peer vanishes), while new connections work: only a client that notices a
 *   silent connection by itself gets out.
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>()
  private latencyMs = 0
  private stalled = false
  private refusing = false
  private resumeWaiters: (() => void)[] = []
  /** Connections accepted since start (a reconnecting client shows here). */
  accepted = 0

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host?: string; port: number }): Promise<TcpProxy> {
    let proxy!: TcpProxy
    const server = createServer((client) => proxy.onConnection(client))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    proxy = new TcpProxy(server, (server.address() as { port: number }).port, { host: target.host ?? '127.0.0.1', port: target.port })
    return proxy
  }

  /** Adds `ms` to every chunk in both directions (0: none). */
  latency(ms: number): void {
    this.latencyMs = ms
  }

  /** Stops forwarding: bytes are held, connections stay open. */
  stall(): void {
    this.stalled = true
  }

  /** Forwards again, held bytes first. */
  resume(): void {
    this.stalled = false
    const waiters = this.resumeWaiters
    this.resumeWaiters = []
    for (const w of waiters) w()
  }

  /** Destroys every open connection (both sides); with refuse, new ones are cut at once until `accept()`. */
  reset(opts: { refuse?: boolean } = {}): void {
    if (opts.refuse) this.refusing = true
    for (const p of this.pairs) {
      p.client.resetAndDestroy()
      p.upstream.resetAndDestroy()
    }
    this.pairs.clear()
  }

  /** The connections open now go silent for good; new ones are not affected. */
  blackhole(): void {
    for (const p of this.pairs) p.dead = true
  }

  /** Lets new connections through again after `reset({ refuse: true })`. */
  accept(): void {
    this.refusing = false
  }

  /** Back to a clean pipe: no latency, no stall, accepting. */
  heal(): void {
    this.latencyMs = 0
    this.accept()
    this.resume()
  }

  get openConnections(): number {
    return this.pairs.size
  }

  async close(): Promise<void> {
    this.heal()
    this.reset()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private onConnection(client: Socket): void {
    this.accepted++
    if (this.refusing) {
      client.resetAndDestroy()
      return
    }
    const upstream = createConnection(this.target)
    const pair: Pair = { client, upstream, dead: false }
    this.pairs.add(pair)
    const close = () => {
      this.pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
    this.pipe(pair, client, upstream)
    this.pipe(pair, upstream, client)
  }

  /** Forwards chunks one at a time through the toxics, keeping their order. */
  private pipe(pair: Pair, from: Socket, to: Socket): void {
    let chain = Promise.resolve()
    from.on('data', (chunk: Buffer) => {
      chain = chain.then(async () => {
        if (this.latencyMs > 0) await sleep(this.latencyMs)
        while (this.stalled) await new Promise<void>((resolve) => this.resumeWaiters.push(resolve))
        if (!to.destroyed && !pair.dead) to.write(chunk)
      })
    })
    from.on('end', () => void chain.then(() => pair.dead || to.end()))
  }
}

interface Pair {
  client: Socket
  upstream: Socket
  /** Black-holed: nothing is forwarded any more, nothing is closed. */
  dead: boolean
}
