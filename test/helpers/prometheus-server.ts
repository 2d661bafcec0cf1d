import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse, stringify } from 'yaml'
import { freePort } from './free-port.js'

/** The lab's Prometheus config (mounted by docker-compose.yml). */
export const PROMETHEUS_CONFIG = 'prometheus/prometheus.yml'

/** Fails with the Debian package to install when a binary the test needs is missing. */
export function requireBinary(binary: string, debianPackage: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(`${binary} is not installed: apt-get install ${debianPackage} (listed in .ci/debian-packages, which .ci/run installs)`)
  }
}

/**
 * The lab's prometheus.yml made runnable here: the same settings, scrape and evaluation every
 * `scrapeSeconds`, and each job's Docker service discovery replaced by the given local targets. A
 * job the test has no targets for is an error: every job of the lab's config must be exercised.
 */
export async function localConfig(targets: Record<string, string[]>, scrapeSeconds: number): Promise<string> {
  const config = parse(await readFile(PROMETHEUS_CONFIG, 'utf8')) as {
    global?: Record<string, unknown>
    scrape_configs: { job_name: string; dns_sd_configs?: unknown; static_configs?: unknown }[]
  }
  config.global = { ...config.global, scrape_interval: `${scrapeSeconds}s`, scrape_timeout: `${scrapeSeconds}s`, evaluation_interval: `${scrapeSeconds}s` }
  for (const job of config.scrape_configs) {
    const local = targets[job.job_name]
    if (!local) throw new Error(`${PROMETHEUS_CONFIG} has a job "${job.job_name}" this test has no local target for: add one`)
    delete job.dns_sd_configs
    job.static_configs = [{ targets: local }]
  }
  const unknown = Object.keys(targets).filter((j) => !config.scrape_configs.some((c) => c.job_name === j))
  if (unknown.length > 0) throw new Error(`${PROMETHEUS_CONFIG} has no job ${unknown.join(', ')}`)
  return stringify(config)
}

export interface Series {
  metric: Record<string, string>
  values: [number, string][]
}

/**
 * A `prometheus` child of the test (Debian's package), on a free port, with a temporary storage
 * directory and the remote-write receiver on (as docker-compose.yml runs it). `stop()` removes
 * everything it created.
 */
export class PrometheusServer {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly output: () => string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(configText: (selfTarget: string) => Promise<string> | string): Promise<PrometheusServer> {
    const binary = requireBinary('prometheus', 'prometheus')
    const port = await freePort()
    const dir = await mkdtemp(join(tmpdir(), 'cachelab-prometheus-'))
    await writeFile(join(dir, 'prometheus.yml'), await configText(`127.0.0.1:${port}`))
    const child = spawn(
      binary,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-remote-write-receiver',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    child.stdout!.on('data', (d) => (output += d))
    child.stderr!.on('data', (d) => (output += d))
    const server = new PrometheusServer(port, dir, child, () => output)
    const deadline = Date.now() + 20_000
    for (;;) {
      if (child.exitCode !== null) {
        await rm(dir, { recursive: true, force: true })
        throw new Error(`prometheus exited with ${child.exitCode}: ${output}`)
      }
      const ready = await fetch(`${server.url}/-/ready`).then((r) => r.ok, () => false)
      if (ready) return server
      if (Date.now() > deadline) {
        await server.stop()
        throw new Error(`prometheus was not ready within 20 s: ${output}`)
      }
      await sleep(100)
    }
  }

  /** The log so far (for failure messages). */
  log(): string {
    return this.output()
  }

  private async api<T>(path: string, params: Record<string, string | string[]>): Promise<T> {
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one)
    const res = await fetch(`${this.url}/api/v1/${path}`, { method: 'POST', body })
    const json = (await res.json()) as { status: string; data: T; error?: string; errorType?: string }
    if (json.status !== 'success') throw new Error(`${json.errorType}: ${json.error}`)
    return json.data
  }

  /** A range query; rejects with Prometheus's message when the expression does not parse. */
  async queryRange(expr: string, startSeconds: number, endSeconds: number, stepSeconds: number): Promise<Series[]> {
    const data = await this.api<{ resultType: string; result: Series[] }>('query_range', { query: expr, start: String(startSeconds), end: String(endSeconds), step: `${stepSeconds}s` })
    return data.result
  }

  async labelValues(label: string, match: string, startSeconds: number, endSeconds: number): Promise<string[]> {
    const res = await fetch(`${this.url}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': match, start: String(startSeconds), end: String(endSeconds) })}`)
    const json = (await res.json()) as { status: string; data: string[]; error?: string }
    if (json.status !== 'success') throw new Error(json.error)
    return json.data
  }

  /** Health of every scrape target, by job. */
  async targets(): Promise<{ job: string; instance: string; health: string; lastError: string }[]> {
    const res = await fetch(`${this.url}/api/v1/targets?state=active`)
    const json = (await res.json()) as { data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] } }
    return json.data.activeTargets.map((t) => ({ job: t.labels.job!, instance: t.labels.instance!, health: t.health, lastError: t.lastError }))
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve))
      this.child.kill('SIGTERM')
      await Promise.race([exited, sleep(10_000).then(() => this.child.kill('SIGKILL'))])
    }
    await rm(this.dir, { recursive: true, force: true })
  }
}
