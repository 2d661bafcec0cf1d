import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise'
import { DatabaseTimeout, DatabaseUnavailable, WriteOutcomeUnknown, isConnectionError } from '../errors.js'
import type { DbOperation, Metrics } from '../metrics.js'
import type { Order, UpdateOrderBody } from '../schemas/order.js'

/** Chaos hooks on the database path (added latency, blocked writes...). */
export interface DbFaultHooks {
  /** True when some fault applies to this operation (checked on every query: keep it cheap). */
  affects(op: DbOperation): boolean
  /** Awaited while holding a connection, before the query runs; `signal` aborts at the deadline. */
  apply(op: DbOperation, signal: AbortSignal): Promise<void>
}

export interface NewOrder {
  id: string
  userId: number
  item: string
  quantity: number
  amountCents: number
  status: Order['status']
  /** Set by the service at acceptance (ISO, ms precision), so a queued order keeps its time. */
  createdAt: string
}

/** The order as it is right after its insert (version 1). */
export function newOrderToOrder(o: NewOrder): Order {
  return { id: o.id, userId: o.userId, item: o.item, quantity: o.quantity, amountCents: o.amountCents, status: o.status, version: 1, createdAt: o.createdAt, updatedAt: o.createdAt }
}

interface OrderRow extends RowDataPacket {
  id: string
  user_id: number
  item: string
  quantity: number
  amount_cents: string
  status: Order['status']
  version: number
  created_at: Date
  updated_at: Date
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' in UTC, the literal both MySQL and MariaDB accept for DATETIME(3). */
function toDbTime(iso: string): string {
  return iso.replace('T', ' ').replace('Z', '')
}

const COLUMNS = 'id, user_id, item, quantity, amount_cents, status, version, created_at, updated_at'

export function rowToOrder(r: OrderRow): Order {
  // Key order is fixed: the cached JSON and the API response are the same bytes.
  return {
    id: r.id,
    userId: r.user_id,
    item: r.item,
    quantity: r.quantity,
    amountCents: Number(r.amount_cents),
    status: r.status,
    version: r.version,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  }
}

/**
 * Every query the service sends to MySQL goes through here: counted by operation, timed, bounded by
 * a deadline (pool wait included) and exposed to chaos hooks. Connection failures become a 503 with
 * a stable code; anything else propagates as a bug.
 */
export class OrderRepository {
  constructor(
    private readonly pool: Pool,
    private readonly metrics: Metrics,
    private readonly faults: DbFaultHooks,
    private readonly timeoutMs: number,
  ) {}

  async findById(id: string): Promise<Order | null> {
    const rows = await this.run<OrderRow[]>('select', `SELECT ${COLUMNS} FROM orders WHERE id = ?`, [id])
    return rows[0] ? rowToOrder(rows[0]) : null
  }

  /** Loads several orders in one query (warm-up); absent ids are simply not returned. */
  async findMany(ids: string[]): Promise<Order[]> {
    if (ids.length === 0) return []
    const rows = await this.run<OrderRow[]>('select', `SELECT ${COLUMNS} FROM orders WHERE id IN (${ids.map(() => '?').join(', ')})`, ids)
    return rows.map(rowToOrder)
  }

  /**
   * Order ids above `afterId`, ascending, at most `limit` (a keyset page: the Bloom filter build
   * streams the table with it instead of one giant result). CAST keeps the BIGINT comparison exact.
   */
  async idsAfter(afterId: string, limit: number): Promise<string[]> {
    const rows = await this.run<RowDataPacket[]>('scan', 'SELECT id FROM orders WHERE id > CAST(? AS SIGNED) ORDER BY id LIMIT ?', [afterId, String(limit)])
    return rows.map((r) => String(r.id))
  }

  /** Inserts; returns false when an order with that id already exists (idempotent replays). */
  async insert(o: NewOrder): Promise<boolean> {
    const res = await this.run<ResultSetHeader>(
      'insert',
      'INSERT INTO orders (id, user_id, item, quantity, amount_cents, status, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) ON DUPLICATE KEY UPDATE id = id',
      [o.id, o.userId, o.item, o.quantity, o.amountCents, o.status, toDbTime(o.createdAt), toDbTime(o.createdAt)],
    ).catch((err: unknown) => {
      if (err instanceof WriteOutcomeUnknown) throw new WriteOutcomeUnknown(`order ${o.id}: ${err.message}; it may have been written: GET /orders/${o.id} tells`)
      throw err
    })
    // MySQL reports 1 affected row for an insert and 0 for an unchanged duplicate.
    return res.affectedRows === 1
  }

  /** Applies a partial update and bumps the version; returns null when the order does not exist. */
  async update(id: string, patch: UpdateOrderBody): Promise<Order | null> {
    const sets: string[] = []
    const values: (string | number)[] = []
    if (patch.item !== undefined) (sets.push('item = ?'), values.push(patch.item))
    if (patch.quantity !== undefined) (sets.push('quantity = ?'), values.push(patch.quantity))
    if (patch.amountCents !== undefined) (sets.push('amount_cents = ?'), values.push(patch.amountCents))
    if (patch.status !== undefined) (sets.push('status = ?'), values.push(patch.status))
    sets.push('version = version + 1', 'updated_at = CURRENT_TIMESTAMP(3)')
    const res = await this.run<ResultSetHeader>('update', `UPDATE orders SET ${sets.join(', ')} WHERE id = ?`, [...values, id]).catch((err: unknown) => {
      if (err instanceof WriteOutcomeUnknown) throw new WriteOutcomeUnknown(`update of order ${id}: ${err.message}; it may have been applied: GET /orders/${id} tells (by its version)`)
      throw err
    })
    if (res.affectedRows === 0) return null
    return this.findById(id)
  }

  /** Health check: not counted as a query (a scrape or probe must not move the lab's figures). */
  async ping(): Promise<void> {
    // The same guarded path as queries: a probe on a dead connection must not hold it for ever.
    const guard: Guard = { aborted: false, sent: false, settled: false, conn: undefined, signal: undefined }
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        guard.aborted = true
        if (guard.sent) this.reapLater(guard)
        reject(new DatabaseTimeout(this.timeoutMs))
      }, this.timeoutMs)
    })
    try {
      await Promise.race([this.execute('other', 'SELECT 1', [], guard, false), deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Runs one statement with metrics, the deadline and the chaos hooks. Placeholders only.
   *
   * A write that reaches its deadline before it was sent (pool wait, a chaos hook holding it) is
   * never sent afterwards: the caller's 503 means "not written". One that times out or loses its
   * connection after it was sent throws WriteOutcomeUnknown: it may have been applied.
   *
   * A statement still unanswered one more timeout after its deadline has its connection destroyed:
   * a connection gone silent (a dead peer, a network black hole) would otherwise hold its pool slot
   * for ever, and enough of them would starve the pool until a restart. A merely slow query gets
   * that grace to finish first, so a slow database does not churn connections.
   */
  async run<T>(op: DbOperation, sql: string, params: (string | number | null)[]): Promise<T> {
    const m = this.metrics
    m.dbQuery(op)
    m.dbQueryStarted()
    const end = m.dbDuration.startTimer({ operation: op })
    let timer: NodeJS.Timeout | undefined
    const affected = this.faults.affects(op)
    // Only a query that a fault affects needs a signal (the fault gives up on it).
    const guard: Guard = { aborted: false, sent: false, settled: false, conn: undefined, signal: affected ? new AbortController() : undefined }
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          guard.aborted = true
          guard.signal?.abort(new DatabaseTimeout(this.timeoutMs))
          if (guard.sent) this.reapLater(guard)
          reject(new DatabaseTimeout(this.timeoutMs))
        }, this.timeoutMs)
      })
      return await Promise.race([this.execute<T>(op, sql, params, guard, affected), deadline])
    } catch (err) {
      m.dbErrors.inc({ operation: op })
      if (WRITES.has(op) && guard.sent && (err instanceof DatabaseTimeout || isConnectionError(err))) {
        throw new WriteOutcomeUnknown(err instanceof DatabaseTimeout ? `no answer within ${this.timeoutMs} ms after the ${op} was sent` : `connection lost after the ${op} was sent (${(err as Error).message || (err as { code: string }).code})`)
      }
      if (err instanceof DatabaseTimeout) throw err
      if (isConnectionError(err)) throw new DatabaseUnavailable((err as Error).message || (err as { code: string }).code)
      throw err
    } finally {
      clearTimeout(timer)
      end()
      m.dbQueryEnded()
    }
  }

  /**
   * On a connection of its own, so that nothing is sent once the deadline has passed: a statement
   * that waited for a connection (or was held by a fault) past its deadline is dropped, not run
   * late behind its caller's back. A slow query holds its connection: the pool saturates as it
   * would under a real slow database.
   */
  private async execute<T>(op: DbOperation, sql: string, params: (string | number | null)[], guard: Guard, affected: boolean): Promise<T> {
    let conn: PoolConnection | undefined
    try {
      conn = await this.pool.getConnection()
      if (guard.aborted) throw new DatabaseTimeout(this.timeoutMs)
      if (affected) {
        await this.faults.apply(op, guard.signal!.signal)
        if (guard.aborted) throw new DatabaseTimeout(this.timeoutMs)
      }
      guard.conn = conn
      guard.sent = true
      const [rows] = await conn.execute(sql, params)
      return rows as T
    } finally {
      guard.settled = true
      conn?.release()
    }
  }

  /** Past its deadline, a sent statement gets one more timeout to answer; then its connection goes. */
  private reapLater(guard: Guard): void {
    const t = setTimeout(() => {
      if (!guard.settled) guard.conn?.destroy()
    }, this.timeoutMs)
    t.unref()
  }
}

const WRITES = new Set<DbOperation>(['insert', 'update', 'delete'])

interface Guard {
  /** The deadline has passed: nothing may be sent any more. */
  aborted: boolean
  /** Set once the statement has been handed to the connection: from then on it may run. */
  sent: boolean
  /** The statement answered or failed (its connection is back in the pool). */
  settled: boolean
  conn: PoolConnection | undefined
  /** For the chaos hooks of an affected query: aborted at the deadline. */
  signal: AbortController | undefined
}
