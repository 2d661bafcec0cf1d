import closeWithGrace from 'close-with-grace'
import { loadWorkerConfig, type WorkerConfig } from './config.js'
import { startWorker } from './worker.js'

// The order worker as its own process: validated config, drain loop, /metrics, and on
// SIGTERM/SIGINT a graceful stop (unfinished messages are handed back to the group). The
// worker-kill chaos action makes it SIGKILL itself instead: a crash, on purpose.
let config: WorkerConfig
try {
  config = loadWorkerConfig()
} catch (err) {
  console.error(`invalid configuration: ${(err as Error).message}`)
  process.exit(1)
}

let worker
try {
  worker = await startWorker(config)
} catch (err) {
  console.error(`order worker could not start: ${(err as Error).message}`)
  process.exit(1)
}

const handle = worker
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
  if (err) console.error('order worker closing after an error', err)
  else if (signal) process.stderr.write(`order worker: ${signal}, stopping\n`)
  await handle.stop()
})
