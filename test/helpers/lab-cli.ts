import { spawn } from 'node:child_process'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the lab CLI (what `npm run scenario / lab / lab:ci` run) as a child process. */
export function runLabCli(args: string[], env: Record<string, string> = {}, timeoutMs = 280_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scenarios/runner/cli.ts', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
