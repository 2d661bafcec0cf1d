import type { Pool } from 'mysql2/promise'

const ITEMS = ['keyboard', 'mouse', 'monitor', 'laptop', 'headset', 'webcam', 'dock', 'cable', 'chair', 'desk lamp']
const STATUSES = ['pending', 'paid', 'shipped', 'cancelled'] as const

/** The seeded order for an id: a pure function of the id, so every seed of N orders is identical. */
export function seededOrder(id: number): [number, number, string, number, number, string] {
  // Multiplicative hashing spreads neighbouring ids over users, items and amounts.
  const h = Math.imul(id, 2654435761) >>> 0
  return [id, (h % 10_000) + 1, ITEMS[h % ITEMS.length]!, (h % 5) + 1, 500 + (h % 200_000), STATUSES[(h >>> 8) % STATUSES.length]!]
}

export interface SeedOptions {
  count: number
  batchSize?: number
  /** Also restore already present rows to their seeded values (version 1). */
  reset?: boolean
  onProgress?: (done: number, total: number) => void
}

/**
 * Loads orders 1..count in multi-row batches. Idempotent: present rows are left as they are, or
 * restored to their seeded values with `reset`.
 */
export async function seed(pool: Pool, opts: SeedOptions): Promise<{ inserted: number }> {
  const batchSize = opts.batchSize ?? 5000
  const onDup = opts.reset
    ? 'user_id = VALUES(user_id), item = VALUES(item), quantity = VALUES(quantity), amount_cents = VALUES(amount_cents), status = VALUES(status), version = 1, updated_at = created_at'
    : 'id = id'
  let inserted = 0
  for (let start = 1; start <= opts.count; start += batchSize) {
    const end = Math.min(opts.count, start + batchSize - 1)
    const rows = []
    for (let id = start; id <= end; id++) rows.push(seededOrder(id))
    const [res] = await pool.query(
      `INSERT INTO orders (id, user_id, item, quantity, amount_cents, status) VALUES ? ON DUPLICATE KEY UPDATE ${onDup}`,
      [rows],
    )
    // Without reset: 1 per new row, 0 per existing one.
    if (!opts.reset) inserted += (res as { affectedRows: number }).affectedRows
    opts.onProgress?.(end, opts.count)
  }
  return { inserted }
}
