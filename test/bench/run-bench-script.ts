import { spawn } from 'node:child_process'
import { once } from 'node:events'
import type { Sandbox } from '../helpers/app.js'

/** Runs a bench script (`node --import tsx <script> ...args`) in the sandbox's Redis and database; its exit code and output. */
export async function runBenchScript(script: string, args: string[], sandbox: Sandbox): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, BENCH_MYSQL_URL: sandbox.mysqlUrl, REDIS_URL: sandbox.redisUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, output }
}
