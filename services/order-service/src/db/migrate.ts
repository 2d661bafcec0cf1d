import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Pool, RowDataPacket } from 'mysql2/promise'

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url))
const LOCK_NAME = 'cachelab_migrate'

/**
 * Applies the pending `migrations/NNN_name.sql` files in order and records them in
 * `schema_migrations`. A named lock (GET_LOCK, on MySQL and MariaDB alike) makes replicas that
 * start together apply each migration once. Returns the names applied.
 */
export async function migrate(pool: Pool, log: (msg: string) => void = () => {}): Promise<string[]> {
  const conn = await pool.getConnection()
  try {
    const [[lock]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 30) AS got', [LOCK_NAME])
    if (lock?.got !== 1) throw new Error('could not take the migration lock within 30 s')
    try {
      await conn.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR(200) NOT NULL PRIMARY KEY, applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB',
      )
      const [done] = await conn.query<RowDataPacket[]>('SELECT name FROM schema_migrations')
      const applied = new Set(done.map((r) => r.name as string))
      const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort()
      const ran: string[] = []
      for (const file of files) {
        if (applied.has(file)) continue
        const sql = await readFile(MIGRATIONS_DIR + file, 'utf8')
        // One statement per file keeps this portable without multipleStatements.
        await conn.query(sql)
        await conn.query('INSERT INTO schema_migrations (name) VALUES (?)', [file])
        log(`applied migration ${file}`)
        ran.push(file)
      }
      return ran
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME])
    }
  } finally {
    conn.release()
  }
}
