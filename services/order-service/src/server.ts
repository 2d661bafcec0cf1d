import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { loadConfig } from './config.js'

// Builds, listens, and on SIGTERM/SIGINT stops accepting, drains, closes Redis and MySQL, exits 0.
let config
try {
  config = loadConfig()
} catch (err) {
  console.error(`invalid configuration: ${(err as Error).message}`)
  process.exit(1)
}

const app = await buildApp(config)
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal }, 'shutting down')
  await app.close()
})

try {
  await app.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  app.log.error({ err }, 'could not listen')
  process.exit(1)
}
