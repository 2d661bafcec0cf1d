import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { Type, type Static } from 'typebox'
import Value from 'typebox/value'
import type { CacheKeys } from '../cache/keys.js'
import { newOrderToOrder, type NewOrder } from '../db/order-repository.js'
import { QueueUnavailable } from '../errors.js'
import { ORDER_ID_PATTERN, OrderStatus, type Order } from '../schemas/order.js'

// The write queue: one Redis stream read by a consumer group (the order workers), a dead-letter
// stream, and one small key per accepted order holding its pending state for the read path.
// Every transition that must not half-happen (accept, acknowledge, dead-letter, replay) is one Lua
// script, so an order is always in exactly one place: the queue, the dead-letter stream, or MySQL.

export const QUEUE_GROUP = 'order-writers'
/** A committed order's pending entry lingers this long, covering a read whose MySQL miss raced the commit. */
export const PENDING_GRACE_MS = 30_000
/** Stream entry ids: `<ms>-<seq>`. */
export const ENTRY_ID_PATTERN = '^[0-9]{1,20}-[0-9]{1,20}$'

/** What a read answers for an order that is accepted but not yet in MySQL. */
export type PendingOrder = Order & { state: 'queued' | 'dead-lettered' }

export function pendingOrder<S extends PendingOrder['state']>(order: NewOrder, state: S): Order & { state: S } {
  return { ...newOrderToOrder(order), state }
}

/** The order carried by a message, as the service enqueued it. */
export const QueuedOrderSchema = Type.Object({
  id: Type.String({ pattern: ORDER_ID_PATTERN }),
  userId: Type.Integer({ minimum: 1 }),
  item: Type.String(),
  quantity: Type.Integer({ minimum: 0 }),
  amountCents: Type.Integer({ minimum: 0 }),
  status: OrderStatus,
  createdAt: Type.String(),
})

/** A message that cannot be an order (corrupt, or written by something else). */
export class MalformedMessage extends Error {
  override readonly name = 'MalformedMessage'
}

export interface QueueMessage {
  /** Stream entry id. */
  entryId: string
  /** Order id (the message's `id` field; '' when absent). */
  orderId: string
  /** The raw `order` field. */
  payload: string
}

/** Decodes a message's order; throws MalformedMessage when it is not one. */
export function decodeOrder(msg: QueueMessage): NewOrder {
  let value: unknown
  try {
    value = JSON.parse(msg.payload)
  } catch {
    throw new MalformedMessage(`message ${msg.entryId}: order is not JSON`)
  }
  if (!Value.Check(QueuedOrderSchema, value)) {
    const first = [...Value.Errors(QueuedOrderSchema, value)][0]
    throw new MalformedMessage(`message ${msg.entryId}: ${first?.instancePath || 'order'} ${first?.message ?? 'is invalid'}`)
  }
  const order = value as Static<typeof QueuedOrderSchema>
  if (order.id !== msg.orderId) throw new MalformedMessage(`message ${msg.entryId}: id field ${msg.orderId} differs from the order's ${order.id}`)
  return order
}

export interface DeadLetter {
  entryId: string
  orderId: string
  order: unknown
  error: string
  attempts: number
  /** Entry id the message had in the queue. */
  queueEntryId: string
  deadAt: string
}

export interface QueueStats {
  /** Accepted orders not yet written (the stream length: acknowledged entries are deleted). */
  depth: number
  /** Delivered to a worker and not yet acknowledged. */
  inFlight: number
  /** Not yet delivered to any worker: the consumer group's lag. */
  waiting: number
  /** Age of the oldest unwritten order, 0 when the queue is empty. */
  oldestAgeSeconds: number
  deadLetters: number
  /** Messages in flight per consumer (a crashed worker shows here until its messages are reclaimed). */
  consumers: { name: string; inFlight: number }[]
}

/** A Lua script run by EVALSHA, loaded with EVAL when the server does not know it yet. */
class Script {
  private readonly sha: string
  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err
      return redis.eval(this.lua, keys.length, ...keys, ...args)
    }
  }
}

// The depth check and the append are one atomic step: concurrent requests cannot overshoot
// queueMaxDepth. The group is created at id 0 with the stream, so nothing enqueued before the
// first worker starts is ever skipped.
const ENQUEUE = new Script(`
local depth = redis.call('XLEN', KEYS[1])
if depth >= tonumber(ARGV[1]) then return {0, depth} end
if depth == 0 then redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[2], '0', 'MKSTREAM') end
local entry = redis.call('XADD', KEYS[1], '*', 'id', ARGV[3], 'order', ARGV[4])
redis.call('SET', KEYS[2], ARGV[5])
return {1, entry}
`)

// After the commit: acknowledge, delete the entry (so the stream length is the depth), and let the
// pending entry expire after a grace period. KEYS: stream, pending keys; ARGV: group, grace, entry ids.
const ACK = new Script(`
local acked = 0
for i = 2, #KEYS do
  local entry = ARGV[i + 1]
  acked = acked + redis.call('XACK', KEYS[1], ARGV[1], entry)
  redis.call('XDEL', KEYS[1], entry)
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return acked
`)

// Moves one message to the dead-letter stream, unless someone else already resolved it.
const DEAD_LETTER = new Script(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'id', ARGV[3], 'order', ARGV[4], 'error', ARGV[5], 'attempts', ARGV[6], 'entry', ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[7] ~= '' then redis.call('SET', KEYS[3], ARGV[7]) end
return 1
`)

// Moves one dead letter back to the queue (same depth rule as an enqueue). {0} missing, {-1} full.
const REPLAY = new Script(`
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return {0} end
local depth = redis.call('XLEN', KEYS[2])
if depth >= tonumber(ARGV[2]) then return {-1, depth} end
if depth == 0 then redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[3], '0', 'MKSTREAM') end
local fields = found[1][2]
local id, order = '', ''
for i = 1, #fields, 2 do
  if fields[i] == 'id' then id = fields[i + 1] elseif fields[i] == 'order' then order = fields[i + 1] end
end
local entry = redis.call('XADD', KEYS[2], '*', 'id', id, 'order', order)
redis.call('XDEL', KEYS[1], ARGV[1])
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4]) end
return {1, entry}
`)

type RawEntry = [string, string[]]

function toMessage([entryId, fields]: RawEntry): QueueMessage {
  const f = fieldMap(fields)
  return { entryId, orderId: f.id ?? '', payload: f.order ?? '' }
}

function fieldMap(fields: string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (!fields) return out
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!
  return out
}

/** Milliseconds part of a stream entry id (the time Redis appended it). */
export function entryTimeMs(entryId: string): number {
  return Number(entryId.slice(0, entryId.indexOf('-')))
}

function isNoGroup(err: unknown): boolean {
  return /NOGROUP|no such key/i.test((err as Error | null)?.message ?? '')
}

/** Key names of the write queue, under the service's prefix. */
export function queueKeys(keys: CacheKeys) {
  return {
    stream: keys.named('queue:orders'),
    dead: keys.named('queue:orders:dead'),
    pendingPrefix: keys.named('queue:pending:'),
    rate: keys.named('queue:rate'),
    kill: keys.named('queue:worker-kill'),
  }
}

/**
 * The write queue, as the service (enqueue, pending reads, admin) and the worker (read, claim,
 * acknowledge, dead-letter) use it. Holds no state besides the client: build one wherever needed.
 */
export class OrderQueue {
  readonly stream: string
  readonly dead: string
  private readonly pendingPrefix: string

  constructor(
    readonly redis: Redis,
    keys: CacheKeys,
  ) {
    const k = queueKeys(keys)
    this.stream = k.stream
    this.dead = k.dead
    this.pendingPrefix = k.pendingPrefix
  }

  pendingKey(orderId: string): string {
    return this.pendingPrefix + orderId
  }

  /** Accepts an order unless the queue holds maxDepth already; the pending entry is written with it. */
  async enqueue(order: NewOrder, pending: PendingOrder, maxDepth: number): Promise<{ accepted: true; entryId: string } | { accepted: false; depth: number }> {
    const [ok, value] = (await ENQUEUE.run(this.redis, [this.stream, this.pendingKey(order.id)], [maxDepth, QUEUE_GROUP, order.id, JSON.stringify(order), JSON.stringify(pending)])) as [number, string | number]
    return ok === 1 ? { accepted: true, entryId: String(value) } : { accepted: false, depth: Number(value) }
  }

  /**
   * After an enqueue that failed without an answer (a command timeout): did it happen? Commands on
   * one connection run in order, so this read sees the enqueue's effect if Redis ever ran it.
   * Null when Redis does not answer this either.
   */
  async wasAccepted(orderId: string, tries = 3): Promise<boolean | null> {
    for (let i = 1; i <= tries; i++) {
      try {
        return (await this.redis.exists(this.pendingKey(orderId))) === 1
      } catch {
        if (i < tries) await sleep(20 * i)
      }
    }
    return null
  }

  /** The pending state of an accepted order not yet in MySQL (its JSON), or null. */
  async pending(orderId: string): Promise<string | null> {
    try {
      return await this.redis.get(this.pendingKey(orderId))
    } catch (err) {
      throw new QueueUnavailable((err as Error).message)
    }
  }

  /** Creates the consumer group (from the start of the stream) when missing. */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.call('XGROUP', 'CREATE', this.stream, QUEUE_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err
    }
  }

  /** New messages for this consumer (`>`), or its own unacknowledged history (`0`). */
  async read(consumer: string, count: number, from: '>' | '0' = '>'): Promise<QueueMessage[]> {
    let res: unknown
    try {
      res = await this.redis.xreadgroup('GROUP', QUEUE_GROUP, consumer, 'COUNT', count, 'STREAMS', this.stream, from)
    } catch (err) {
      // The stream (and its group) vanished, e.g. deleted by hand: recreate and read next time.
      if (!isNoGroup(err)) throw err
      await this.ensureGroup()
      return []
    }
    const streams = res as [string, RawEntry[]][] | null
    // History entries deleted meanwhile come back with null fields: nothing to process.
    return (streams?.[0]?.[1] ?? []).filter((e) => e[1] !== null).map(toMessage)
  }

  /**
   * Takes over messages some consumer received and left unacknowledged for minIdleMs (a crashed or
   * stuck worker). Returns them with the cursor for the next call.
   */
  async autoclaim(consumer: string, minIdleMs: number, cursor: string, count: number): Promise<{ cursor: string; messages: QueueMessage[] }> {
    try {
      const [next, entries] = (await this.redis.call('XAUTOCLAIM', this.stream, QUEUE_GROUP, consumer, minIdleMs, cursor, 'COUNT', count)) as [string, (RawEntry | null)[]]
      return { cursor: next, messages: entries.filter((e): e is RawEntry => e !== null && e[1] !== null).map(toMessage) }
    } catch (err) {
      if (isNoGroup(err)) return { cursor: '0-0', messages: [] }
      throw err
    }
  }

  /**
   * Claims messages for this consumer. JUSTID keeps the delivery count (a heartbeat: "still mine");
   * without it the count goes up by one (a new attempt). Returns the ids still in the queue.
   */
  async claim(consumer: string, entryIds: string[], justId: boolean): Promise<Set<string>> {
    if (entryIds.length === 0) return new Set()
    const res = (await this.redis.call('XCLAIM', this.stream, QUEUE_GROUP, consumer, 0, ...entryIds, ...(justId ? ['JUSTID'] : []))) as (string | RawEntry | null)[]
    const ids = new Set<string>()
    for (const r of res) {
      if (r === null) continue
      if (typeof r === 'string') ids.add(r)
      else if (r[1] !== null) ids.add(r[0])
    }
    return ids
  }

  /** Entry ids this consumer holds unacknowledged. */
  async pendingOf(consumer: string, count: number): Promise<string[]> {
    try {
      const rows = (await this.redis.call('XPENDING', this.stream, QUEUE_GROUP, '-', '+', count, consumer)) as [string, string, number, number][]
      return rows.map((r) => r[0])
    } catch (err) {
      if (isNoGroup(err)) return []
      throw err
    }
  }

  /**
   * Gives messages up without processing them (a worker stopping): they stay pending but look idle
   * for idleMs already, so the next worker's reclaim takes them at once.
   */
  async release(consumer: string, entryIds: string[], idleMs: number): Promise<void> {
    if (entryIds.length === 0) return
    await this.redis.call('XCLAIM', this.stream, QUEUE_GROUP, consumer, 0, ...entryIds, 'IDLE', idleMs, 'JUSTID')
  }

  /** Delivery counts (XPENDING) of these entries, as seen by the consumer group. */
  async deliveries(entryIds: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    if (entryIds.length === 0) return out
    const pipeline = this.redis.pipeline()
    for (const id of entryIds) pipeline.call('XPENDING', this.stream, QUEUE_GROUP, id, id, 1)
    const res = (await pipeline.exec()) ?? []
    res.forEach(([err, rows], i) => {
      const row = !err ? (rows as [string, string, number, number][])[0] : undefined
      if (row) out.set(entryIds[i]!, Number(row[3]))
    })
    return out
  }

  /** Acknowledges committed messages; returns how many were still unacknowledged. */
  async ack(messages: { entryId: string; orderId: string }[]): Promise<number> {
    if (messages.length === 0) return 0
    return Number(
      await ACK.run(
        this.redis,
        [this.stream, ...messages.map((m) => this.pendingKey(m.orderId))],
        [QUEUE_GROUP, PENDING_GRACE_MS, ...messages.map((m) => m.entryId)],
      ),
    )
  }

  /** Moves a message to the dead-letter stream; false when it was resolved elsewhere meanwhile. */
  async deadLetter(msg: QueueMessage, error: string, attempts: number, pending: PendingOrder | null): Promise<boolean> {
    const res = await DEAD_LETTER.run(
      this.redis,
      [this.stream, this.dead, this.pendingKey(msg.orderId || 'unknown')],
      [QUEUE_GROUP, msg.entryId, msg.orderId, msg.payload, error.slice(0, 1000), attempts, pending ? JSON.stringify(pending) : ''],
    )
    return Number(res) === 1
  }

  /** Dead letters in stream order, starting after `after`. */
  async deadLetters(limit: number, after?: string): Promise<DeadLetter[]> {
    const entries = (await this.redis.xrange(this.dead, after ? `(${after}` : '-', '+', 'COUNT', limit)) as RawEntry[]
    return entries.map(([entryId, fields]) => {
      const f = fieldMap(fields)
      let order: unknown = f.order
      try {
        order = JSON.parse(f.order ?? '')
      } catch {
        // A malformed payload is shown as the raw string it is.
      }
      return { entryId, orderId: f.id ?? '', order, error: f.error ?? '', attempts: Number(f.attempts ?? 0), queueEntryId: f.entry ?? '', deadAt: new Date(entryTimeMs(entryId)).toISOString() }
    })
  }

  /** Moves one dead letter back to the queue with a fresh delivery count. */
  async replay(deadEntryId: string, maxDepth: number): Promise<{ result: 'replayed'; entryId: string } | { result: 'missing' } | { result: 'full'; depth: number }> {
    const [found] = (await this.redis.xrange(this.dead, deadEntryId, deadEntryId)) as RawEntry[]
    if (!found) return { result: 'missing' }
    const msg = toMessage(found)
    let pending = ''
    try {
      pending = JSON.stringify(pendingOrder(decodeOrder(msg), 'queued'))
    } catch {
      // A malformed message is replayed as it is; it has no pending state to show.
    }
    const [ok, value] = (await REPLAY.run(this.redis, [this.dead, this.stream, this.pendingKey(msg.orderId || 'unknown')], [deadEntryId, maxDepth, QUEUE_GROUP, pending])) as [number, string | number | undefined]
    if (ok === 1) return { result: 'replayed', entryId: String(value) }
    if (ok === -1) return { result: 'full', depth: Number(value) }
    return { result: 'missing' }
  }

  /** Replays dead letters oldest first until none is left or the queue is full. */
  async replayAll(maxDepth: number): Promise<{ replayed: number; remaining: number; queueFull: boolean }> {
    let replayed = 0
    let queueFull = false
    for (;;) {
      const batch = await this.deadLetters(100)
      if (batch.length === 0) break
      for (const d of batch) {
        const r = await this.replay(d.entryId, maxDepth)
        if (r.result === 'full') {
          queueFull = true
          break
        }
        if (r.result === 'replayed') replayed++
      }
      if (queueFull) break
    }
    return { replayed, remaining: await this.redis.xlen(this.dead), queueFull }
  }

  async stats(): Promise<QueueStats> {
    const res = await this.redis
      .multi()
      .xlen(this.stream)
      .xrange(this.stream, '-', '+', 'COUNT', 1)
      .call('XPENDING', this.stream, QUEUE_GROUP)
      .xlen(this.dead)
      .exec()
    if (!res) throw new Error('queue stats: transaction aborted')
    const [[e0, depth], [e1, first], [e2, summary], [e3, dead]] = res as [Error | null, unknown][] as [[Error | null, number], [Error | null, RawEntry[]], [Error | null, unknown], [Error | null, number]]
    for (const e of [e0, e1, e3]) if (e) throw e
    if (e2 && !isNoGroup(e2)) throw e2
    // XPENDING summary: [count, lowest id, highest id, [[consumer, count], ...]].
    const s = (e2 ? [0, null, null, null] : summary) as [number, string | null, string | null, [string, string][] | null]
    const inFlight = Number(s[0] ?? 0)
    const oldest = first[0]?.[0]
    return {
      depth: Number(depth),
      inFlight,
      waiting: Math.max(0, Number(depth) - inFlight),
      oldestAgeSeconds: oldest ? Math.max(0, (Date.now() - entryTimeMs(oldest)) / 1000) : 0,
      deadLetters: Number(dead),
      consumers: (s[3] ?? []).map(([name, n]) => ({ name, inFlight: Number(n) })),
    }
  }

  /** Consumers of the group with their idle time (admin view; dead workers linger until removed). */
  async consumers(): Promise<{ name: string; inFlight: number; idleMs: number }[]> {
    try {
      const rows = (await this.redis.call('XINFO', 'CONSUMERS', this.stream, QUEUE_GROUP)) as (string | number)[][]
      return rows.map((r) => {
        const f: Record<string, string | number> = {}
        for (let i = 0; i + 1 < r.length; i += 2) f[String(r[i])] = r[i + 1]!
        return { name: String(f.name), inFlight: Number(f.pending ?? 0), idleMs: Number(f.idle ?? 0) }
      })
    } catch (err) {
      if (isNoGroup(err)) return []
      throw err
    }
  }
}
