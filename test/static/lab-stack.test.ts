import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { ConfigSchema } from '../../services/order-service/src/config.js'
import { WorkerConfigSchema } from '../../services/order-worker/src/config.js'
import { PROMETHEUS_CONFIG, requireBinary } from '../helpers/prometheus-server.js'

// The Docker lab stack, checked without a Docker engine: the compose file against the Compose
// Specification's schema and Debian's docker-compose, the images, replicas and limits it promises,
// the Dockerfile, and the configs the containers mount (HAProxy, Prometheus, Grafana provisioning).

const COMPOSE_FILE = 'docker-compose.yml'
// Relative to the repository root, where CI's clone has shared/ beside it.
const COMPOSE_SCHEMA = '../shared/schemas/compose-spec.json'
const DOCKERFILE = 'services/order-service/Dockerfile'

interface Service {
  image?: string
  build?: { context: string; dockerfile: string; args?: Record<string, string> }
  command?: string[]
  container_name?: string
  ports?: string[]
  expose?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  profiles?: string[]
  healthcheck?: { test?: string[]; disable?: boolean }
  depends_on?: Record<string, { condition: string }>
  restart?: string
  deploy?: { replicas?: number; resources?: { limits?: { memory?: string } } }
}

const composeText = readFileSync(COMPOSE_FILE, 'utf8')
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown>; 'x-images': Record<string, string> }
const services = compose.services
const serviceNames = Object.keys(services)
const readme = readFileSync('README.md', 'utf8')

/** What compose substitutes for `${VAR:-default}` when VAR is unset (the lab defaults). */
function withDefaults(value: string): string {
  return value.replace(/\$\{(\w+):-([^}]*)\}/g, (_, _name: string, def: string) => def)
}

/** Host path of a bind mount `./host:/container[:ro]`. */
function mounts(service: Service): { host: string; container: string }[] {
  return (service.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => ({ host: v.split(':')[0]!, container: v.split(':')[1]! }))
}

/** The "With Docker" section of the README. */
function withDockerSection(): string {
  const start = readme.indexOf('## With Docker')
  expect(start, 'README.md has a "## With Docker" section').toBeGreaterThanOrEqual(0)
  const end = readme.indexOf('\n## ', start + 1)
  return readme.slice(start, end === -1 ? undefined : end)
}

describe('docker-compose.yml', () => {
  it(`validates against the Compose Specification schema (${COMPOSE_SCHEMA}, JSON Schema draft-07)`, () => {
    expect(existsSync(COMPOSE_SCHEMA), `${COMPOSE_SCHEMA} is missing: the repository is expected with shared/ beside it`).toBe(true)
    const schema = JSON.parse(readFileSync(COMPOSE_SCHEMA, 'utf8'))
    // Ajv's default class is draft-07; the schema's own keywords beyond it (e.g. "deprecated") are annotations.
    const validate = new Ajv({ strict: false, allErrors: true, validateSchema: false }).compile(schema)
    const valid = validate(compose)
    expect(validate.errors ?? [], 'schema errors').toEqual([])
    expect(valid).toBe(true)
  })

  it("is accepted by `docker-compose config -q` (Debian's docker-compose 1.29, no engine needed)", () => {
    const binary = requireBinary('docker-compose', 'docker-compose')
    const result = (() => {
      try {
        execFileSync(binary, ['-f', COMPOSE_FILE, 'config', '-q'], { stdio: 'pipe', timeout: 30_000, env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock' } })
        return ''
      } catch (err) {
        return String((err as { stderr?: Buffer }).stderr ?? err)
      }
    })()
    expect(result).toBe('')
  })

  it('pins every image in one place (x-images), with a version tag, never latest', () => {
    const pinned = Object.values(compose['x-images'])
    for (const image of pinned) expect(image, image).toMatch(/^[\w./-]+:(?!latest$)[\w.-]*\d[\w.-]*$/)
    for (const [name, svc] of Object.entries(services)) {
      if (svc.build) {
        // Built here, from a base image pinned in x-images.
        expect(svc.image, `${name}: a built image needs a local tag`).toMatch(/^cachelab-[\w-]+:local$/)
        expect(pinned, `${name}: build arg NODE_IMAGE`).toContain(svc.build.args?.NODE_IMAGE)
      } else {
        expect(pinned, `${name}: image ${svc.image} is not one of x-images`).toContain(svc.image)
      }
    }
    const dockerfileDefault = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(DOCKERFILE, 'utf8'))?.[1]
    expect(dockerfileDefault, `${DOCKERFILE}: ARG NODE_IMAGE default`).toBe(compose['x-images'].node)
  })

  it('runs at least two order-service replicas, none with a container_name or a host port', () => {
    expect(services['order-service']?.deploy?.replicas).toBeGreaterThanOrEqual(2)
    for (const [name, svc] of Object.entries(services)) {
      if ((svc.deploy?.replicas ?? 1) < 2) continue
      expect(svc.container_name, `${name}: container_name prevents replicas`).toBeUndefined()
      expect(svc.ports, `${name}: a host port prevents replicas`).toBeUndefined()
    }
  })

  it('sets a memory limit on every service', () => {
    for (const [name, svc] of Object.entries(services)) expect(svc.deploy?.resources?.limits?.memory, name).toMatch(/^\d+[kmg]$/)
  })

  it('gives every long-running service a healthcheck (the one-shots: seed, and k6 under its profile)', () => {
    const oneShots = serviceNames.filter((n) => services[n]!.restart === 'no' || services[n]!.profiles?.length)
    expect(oneShots.sort()).toEqual(['k6', 'seed'])
    for (const name of serviceNames.filter((n) => !oneShots.includes(n))) {
      const test = services[name]!.healthcheck?.test
      expect(test, `${name}: healthcheck`).toBeDefined()
      expect(test![0], name).toMatch(/^CMD(-SHELL)?$/)
    }
  })

  it('brings up a seeded lab: the replicas wait for a successful seed, which waits for a healthy MySQL', () => {
    expect(services.seed?.command?.slice(0, 3)).toEqual(['npm', 'run', 'seed'])
    expect(services.seed?.depends_on?.mysql?.condition).toBe('service_healthy')
    const deps = services['order-service']!.depends_on!
    expect(deps.seed?.condition).toBe('service_completed_successfully')
    expect(deps.mysql?.condition).toBe('service_healthy')
    expect(deps.redis?.condition).toBe('service_healthy')
  })

  it('configures the order service for containers: 0.0.0.0, the admin token from the environment with a lab default, the same database password as MySQL', () => {
    const env = services['order-service']!.environment!
    expect(env.HOST).toBe('0.0.0.0')
    expect(env.ADMIN_TOKEN).toMatch(/^\$\{ADMIN_TOKEN:-.+\}$/)
    const token = withDefaults(env.ADMIN_TOKEN!)
    expect(token.length).toBeGreaterThanOrEqual((ConfigSchema.properties.ADMIN_TOKEN as unknown as { minLength: number }).minLength)
    expect(services.k6?.environment?.ADMIN_TOKEN, 'k6 uses the same token').toBe(env.ADMIN_TOKEN)
    const password = withDefaults(services.mysql!.environment!.MYSQL_ROOT_PASSWORD!)
    expect(new URL(withDefaults(env.MYSQL_URL!)).password).toBe(password)
    expect(new URL(withDefaults(env.MYSQL_URL!)).hostname).toBe('mysql')
    expect(new URL(withDefaults(env.REDIS_URL!)).hostname).toBe('redis')
    // Every setting the service receives is one it knows (a typo would be silently ignored).
    for (const key of Object.keys(env)) expect(Object.keys(ConfigSchema.properties), key).toContain(key)
  })

  it('runs the order worker from the service image, configured for containers, discovered by Prometheus, restarted after a crash', () => {
    const worker = services['order-worker']!
    expect(worker.image).toBe(services['order-service']!.image)
    expect(worker.command?.join(' ')).toContain('services/order-worker/src/main.ts')
    const env = worker.environment!
    expect(env.WORKER_METRICS_HOST).toBe('0.0.0.0')
    expect(worker.expose).toEqual([env.WORKER_METRICS_PORT])
    expect(worker.healthcheck!.test!.join(' ')).toContain(`127.0.0.1:${env.WORKER_METRICS_PORT}/healthz`)
    // The same Redis, MySQL and key prefix as the replicas: one queue.
    for (const key of ['REDIS_URL', 'MYSQL_URL', 'KEY_PREFIX']) expect(env[key], key).toBe(services['order-service']!.environment![key])
    for (const key of Object.keys(env)) expect(Object.keys(WorkerConfigSchema.properties), key).toContain(key)
    expect(worker.depends_on?.seed?.condition).toBe('service_completed_successfully')
    expect(worker.depends_on?.mysql?.condition).toBe('service_healthy')
    expect(worker.depends_on?.redis?.condition).toBe('service_healthy')
    // k6 stands in for a process SIGKILL with the worker-kill action; the restart policy brings the worker back.
    expect(worker.restart).toBe('unless-stopped')
    expect(worker.container_name).toBeUndefined()
    expect(worker.ports).toBeUndefined()
  })

  it('writes every literal $ as $$ and gives every interpolated variable a lab default', () => {
    const withoutComments = composeText
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n')
    const dollars = [...withoutComments.matchAll(/\$+(\{[^}]*\}|\w*)/g)].map((m) => m[0])
    for (const d of dollars) {
      if (d.startsWith('$$')) continue
      // ${VAR:-default}: set it in the environment or a .env file to override.
      expect(d, `unescaped or default-less interpolation ${d}`).toMatch(/^\$\{\w+:-[^}]*\}$/)
    }
    expect(dollars.some((d) => d.startsWith('$$'))).toBe(true)
  })

  it('documents every setting it reads from the environment, with its default, in README.md "With Docker"', () => {
    const section = withDockerSection()
    const settings = new Map([...composeText.matchAll(/\$\{(\w+):-([^}]*)\}/g)].map((m) => [m[1]!, m[2]!]))
    expect(settings.size).toBeGreaterThan(0)
    const escape = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    // e.g. `SEED_COUNT` (100000) or `ADMIN_TOKEN` (`cachelab-lab-admin-token`)
    for (const [name, def] of settings) expect(section, `${name} (default ${def})`).toMatch(new RegExp(`\`${name}\` \\(\`?${escape(def)}\\b`))
  })

  it('mounts only files and folders that exist (k6/ and scenarios/ may still be empty)', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const { host } of mounts(svc)) {
        if (name === 'k6') continue
        expect(existsSync(host), `${name}: ${host}`).toBe(true)
      }
    }
    expect(mounts(services.k6!).map((m) => `${m.host}:${m.container}`).sort()).toEqual(['./k6:/k6', './reports/k6:/reports/k6', './scenarios:/scenarios'])
    // The scripts open ../scenarios/... relative to /k6: both folders side by side, as in the repository.
    expect(services.k6!.environment?.SUMMARY_DIR).toBe('/reports/k6')
  })

  it('runs k6 on demand under the load profile, writing to Prometheus by remote write', () => {
    const k6 = services.k6!
    expect(k6.profiles).toEqual(['load'])
    expect(k6.image).toMatch(/^grafana\/k6:/)
    expect(k6.environment?.K6_OUT).toBe('experimental-prometheus-rw')
    expect(new URL(k6.environment!.K6_PROMETHEUS_RW_SERVER_URL!).host).toBe('prometheus:9090')
    expect(new URL(k6.environment!.K6_PROMETHEUS_RW_SERVER_URL!).pathname).toBe('/api/v1/write')
    expect(new URL(k6.environment!.BASE_URL!).hostname).toBe('lb')
    expect(services.prometheus?.command).toContain('--web.enable-remote-write-receiver')
  })

  it('names in README.md only services that exist, and documents every service', () => {
    const section = withDockerSection()
    // The services table: | `name` | ... |
    const documented = [...section.matchAll(/^\| `([\w-]+)` \|/gm)].map((m) => m[1]!)
    expect(documented.sort()).toEqual([...serviceNames].sort())
    // Services named by `docker compose <command> ... <service>` commands in README.md: the lines of
    // code blocks and the inline code spans.
    const commands: string[] = []
    let inBlock = false
    for (const line of readme.split('\n')) {
      if (line.startsWith('```')) inBlock = !inBlock
      else if (inBlock && line.trim().startsWith('docker compose')) commands.push(line.trim())
      else if (!inBlock) commands.push(...[...line.matchAll(/`(docker compose [^`]*)`/g)].map((m) => m[1]!))
    }
    const named: string[] = []
    for (const command of commands) {
      const m = /^docker compose((?: --profile \S+)*) (run|exec|logs|restart|stop|start|up|kill|pause|unpause|ps|build)\b(.*)$/.exec(command.split('#')[0]!.trim())
      if (!m) continue
      const operands = m[3]!.split(/\s+/).filter((a) => a && !a.startsWith('-') && !a.includes('='))
      named.push(...(m[2] === 'run' || m[2] === 'exec' ? operands.slice(0, 1) : operands))
    }
    expect(named.length).toBeGreaterThan(0)
    for (const name of named) expect(serviceNames, `README.md names service "${name}"`).toContain(name)
  })
})

describe('the order service image (services/order-service/Dockerfile)', () => {
  const dockerfile = readFileSync(DOCKERFILE, 'utf8')
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'))

  it('is multi-stage, installs with npm ci from the lockfile and runs as a non-root user', () => {
    expect(instructions.filter((l) => l.startsWith('FROM ')).length).toBeGreaterThanOrEqual(2)
    expect(instructions.some((l) => /^RUN npm ci\b/.test(l))).toBe(true)
    const users = instructions.filter((l) => l.startsWith('USER '))
    expect(users.length).toBeGreaterThan(0)
    expect(users.at(-1)).not.toMatch(/^USER (root|0)(:|$)/)
  })

  it('listens on 0.0.0.0 and checks its health on /healthz', () => {
    expect(dockerfile).toMatch(/HOST=0\.0\.0\.0/)
    const health = instructions.find((l) => l.startsWith('HEALTHCHECK '))
    expect(health).toMatch(/\/healthz/)
    expect(services['order-service']!.healthcheck!.test!.join(' ')).toMatch(/\/healthz/)
  })

  it('is built from the repository root, copying only paths that exist, without node_modules', () => {
    expect(services['order-service']!.build).toMatchObject({ context: '.', dockerfile: DOCKERFILE })
    for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
      const parts = line.split(/\s+/).slice(1).filter((p) => !p.startsWith('--'))
      for (const src of parts.slice(0, -1)) expect(existsSync(src), `${DOCKERFILE}: COPY ${src}`).toBe(true)
    }
    expect(readFileSync('.dockerignore', 'utf8').split('\n')).toContain('node_modules')
  })
})

describe('configs the containers mount', () => {
  it("HAProxy's config is accepted by `haproxy -c` (Debian's haproxy) and balances the order-service replicas", () => {
    const binary = requireBinary('haproxy', 'haproxy')
    const mount = mounts(services.lb!).find((m) => m.container.endsWith('haproxy.cfg'))!
    execFileSync(binary, ['-c', '-q', '-f', mount.host], { stdio: 'pipe', timeout: 30_000 })
    const cfg = readFileSync(mount.host, 'utf8')
    const target = /server-template \S+ \S+ ([\w-]+):(\d+)/.exec(cfg)
    expect(target?.[1]).toBe('order-service')
    expect(services['order-service']!.expose).toContain(target?.[2])
    const bind = /^\s*bind :(\d+)/m.exec(cfg)?.[1]
    expect(services.lb!.ports?.[0]).toMatch(new RegExp(`:${bind}$`))
  })

  it("Prometheus's config is accepted by `promtool check config` and discovers every replica and worker through DNS", () => {
    const binary = requireBinary('promtool', 'prometheus')
    const out = execFileSync(binary, ['check', 'config', PROMETHEUS_CONFIG], { encoding: 'utf8', timeout: 30_000 })
    expect(out).toMatch(/SUCCESS/)
    expect(mounts(services.prometheus!).map((m) => m.host)).toContain(`./${PROMETHEUS_CONFIG}`)
    const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
      storage?: { tsdb?: { out_of_order_time_window?: string } }
      scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[]
    }
    expect(config.storage?.tsdb?.out_of_order_time_window).toBeDefined()
    for (const service of ['order-service', 'order-worker']) {
      const job = config.scrape_configs.find((j) => j.job_name === service)
      expect(job?.dns_sd_configs?.[0]?.names, service).toEqual([service])
      expect(services[service]!.expose).toContain(String(job?.dns_sd_configs?.[0]?.port))
    }
    for (const j of config.scrape_configs) for (const sd of j.dns_sd_configs ?? []) for (const n of sd.names) expect(serviceNames, `${j.job_name} discovers ${n}`).toContain(n)
  })

  it('Grafana provisions the Prometheus datasource (uid prometheus) and the dashboards folder, opens the overview without a login', () => {
    const grafana = services.grafana!
    const provisioning = (kind: string) => mounts(grafana).find((m) => m.container === `/etc/grafana/provisioning/${kind}`)!.host
    const datasources = parse(readFileSync(`${provisioning('datasources')}/prometheus.yml`, 'utf8')) as { datasources: { uid: string; type: string; url: string }[] }
    expect(datasources.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' })])
    const providers = parse(readFileSync(`${provisioning('dashboards')}/cachelab.yml`, 'utf8')) as { providers: { options: { path: string } }[] }
    const dashboardsMount = mounts(grafana).find((m) => m.container === providers.providers[0]!.options.path)
    expect(dashboardsMount?.host).toBe('./dashboards/json')
    const home = grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!
    expect(home.startsWith(`${dashboardsMount!.container}/`)).toBe(true)
    expect(existsSync(`${dashboardsMount!.host}/${home.slice(dashboardsMount!.container.length + 1)}`)).toBe(true)
    expect(grafana.environment!.GF_AUTH_ANONYMOUS_ENABLED).toBe('true')
    expect(grafana.environment!.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer')
  })
})
