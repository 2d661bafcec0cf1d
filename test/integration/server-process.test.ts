import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandbox, TEST_TOKEN, type Sandbox } from '../helpers/app.js'
import { freePort } from '../helpers/free-port.js'

// The real entry point, as a child process: config errors, listening, SIGTERM.
const SERVER = 'services/order-service/src/server.ts'
let sandbox: Sandbox

beforeAll(async () => {
  sandbox = await createSandbox()
  await sandbox.seed(5)
})
afterAll(async () => {
  await sandbox?.drop()
})

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  return { child, output: () => output }
}

describe('server process', () => {
  it('refuses a bad config value with a message naming it, exit code 1', { timeout: 120_000 }, async () => {
    const { child, output } = run({ PORT: 'eighty' })
    const [code] = await once(child, 'exit')
    expect(code).toBe(1)
    expect(output()).toMatch(/invalid configuration: .*PORT must be integer/)
  })

  it('serves, then on SIGTERM stops accepting, closes everything and exits 0', { timeout: 120_000 }, async () => {
    const port = await freePort()
    const { child, output } = run({ PORT: String(port), MYSQL_URL: sandbox.mysqlUrl, REDIS_URL: sandbox.redisUrl, KEY_PREFIX: sandbox.keyPrefix, ADMIN_TOKEN: TEST_TOKEN })
    const deadline = Date.now() + 90_000
    let res: Response | undefined
    while (!res) {
      try {
        res = await fetch(`http://127.0.0.1:${port}/orders/1`)
      } catch {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start: ${output()}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    expect(res.status).toBe(200)
    expect(((await res.json()) as { id: string }).id).toBe('1')
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
  })
})
