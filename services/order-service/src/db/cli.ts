import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { ensureDatabase } from './database.js'
import { migrate } from './migrate.js'
import { createPool } from './pool.js'
import { seed } from './seed.js'

const USAGE = `usage:
  npm run migrate                      apply pending migrations (creates the database if missing)
  npm run seed -- [--count N] [--reset] migrate, then load orders 1..N (default 100000)`

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2)
  const { values } = parseArgs({
    args: rest,
    options: { count: { type: 'string', default: '100000' }, reset: { type: 'boolean', default: false }, help: { type: 'boolean' } },
    strict: true,
  })
  if (values.help || (command !== 'migrate' && command !== 'seed')) {
    console.log(USAGE)
    process.exit(values.help ? 0 : 2)
  }
  const count = Number(values.count)
  if (!Number.isInteger(count) || count < 0 || count > 50_000_000) throw new Error(`--count must be an integer from 0 to 50000000, got "${values.count}"`)

  const config = loadConfig()
  await ensureDatabase(config.MYSQL_URL)
  const pool = createPool({ url: config.MYSQL_URL, connectionLimit: 2, queueLimit: 10, connectTimeoutMs: config.MYSQL_CONNECT_TIMEOUT_MS })
  try {
    for (const name of await migrate(pool)) console.log(`applied ${name}`)
    if (command === 'seed') {
      const started = performance.now()
      let last = 0
      const { inserted } = await seed(pool, {
        count,
        reset: values.reset,
        onProgress: (done, total) => {
          const now = performance.now()
          if (now - last > 250 || done === total) {
            process.stdout.write(`\rseeding orders: ${done}/${total} (${Math.round((done / Math.max(total, 1)) * 100)}%)`)
            last = now
          }
        },
      })
      const secs = ((performance.now() - started) / 1000).toFixed(1)
      console.log(`\nseeded ${count} orders in ${secs} s (${values.reset ? 'reset to seeded values' : `${inserted} new`})`)
    }
  } finally {
    await pool.end()
  }
}

main().catch((err: Error) => {
  console.error(`error: ${err.message}`)
  process.exit(1)
})
