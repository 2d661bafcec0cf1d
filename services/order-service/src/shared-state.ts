import type { Redis } from 'ioredis'

export interface SharedStateOptions {
  /** Client for HGETALL/HSET/PUBLISH. */
  redis: Redis
  /** Subscriber connection, shared by every SharedState of the app. */
  subscriber: Redis
  /** Redis hash holding one JSON value per field. */
  key: string
  /** Called with the whole hash whenever it may have changed (a broadcast, a reconnect, a poll). */
  onChange: (fields: Record<string, string>) => void | Promise<void>
  onError: (err: Error) => void
  /** Safety net for missed broadcasts, in ms. */
  pollMs?: number
}

/**
 * State that every replica shares: a Redis hash, a pub/sub broadcast on change and a periodic poll.
 * A write lands in Redis first, so a replica that restarts (or reconnects) reads the current state;
 * the broadcast makes the others reload within milliseconds.
 */
export class SharedState {
  private readonly channel: string
  private timer: NodeJS.Timeout | undefined
  private readonly onMessage = (channel: string) => {
    if (channel === this.channel) void this.reload()
  }
  private readonly onReady = () => void this.reload()
  private reloading: Promise<void> = Promise.resolve()

  constructor(private readonly opts: SharedStateOptions) {
    this.channel = `${opts.key}:changed`
  }

  async start(): Promise<void> {
    const { subscriber, redis } = this.opts
    subscriber.on('message', this.onMessage)
    redis.on('ready', this.onReady)
    subscriber.subscribe(this.channel).catch((err: Error) => this.opts.onError(err))
    this.timer = setInterval(() => void this.reload(), this.opts.pollMs ?? 5000)
    this.timer.unref()
    await this.reload()
  }

  stop(): void {
    clearInterval(this.timer)
    this.opts.subscriber.off('message', this.onMessage)
    this.opts.redis.off('ready', this.onReady)
  }

  /** Reads the hash and hands it to onChange; serialized so updates apply in order. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      try {
        const fields = await this.opts.redis.hgetall(this.opts.key)
        await this.opts.onChange(fields)
      } catch (err) {
        this.opts.onError(err as Error)
      }
    })
    return this.reloading
  }

  /** Writes fields (JSON values) and deletes others, then broadcasts. Throws when Redis is down. */
  async write(set: Record<string, unknown>, del: string[] = []): Promise<void> {
    const tx = this.opts.redis.multi()
    const entries = Object.entries(set)
    if (entries.length > 0) tx.hset(this.opts.key, Object.fromEntries(entries.map(([k, v]) => [k, JSON.stringify(v)])))
    if (del.length > 0) tx.hdel(this.opts.key, ...del)
    tx.publish(this.channel, '1')
    const res = await tx.exec()
    const failed = res?.find(([err]) => err)
    if (failed) throw failed[0]
    await this.reload()
  }
}
