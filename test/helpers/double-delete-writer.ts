// A replica that makes one update through the active consistency mode, prints the response as one
// JSON line, then idles until its parent kills it (SIGKILL: no shutdown, nothing flushed). Run with
// the sandbox's MYSQL_URL, REDIS_URL, KEY_PREFIX, ADMIN_TOKEN and the ORDER_ID to update.
import { buildApp } from '../../services/order-service/src/app.js'
import { loadConfig } from '../../services/order-service/src/config.js'

const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent', MIGRATE_ON_START: false }), { logger: false })
const res = await app.inject({ method: 'PUT', url: `/orders/${process.env.ORDER_ID}`, payload: { quantity: 7 } })
process.stdout.write(`${JSON.stringify({ statusCode: res.statusCode, order: res.json() })}\n`)
setInterval(() => {}, 60_000)
