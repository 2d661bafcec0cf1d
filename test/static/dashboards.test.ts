import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { describe, expect, it } from 'vitest'
import { DATASOURCE, SCHEMA_VERSION } from '../../dashboards/src/grafana.js'
import { renderAll } from '../../dashboards/src/index.js'
import { SCENARIO_SECTIONS } from '../../dashboards/src/scenarios/index.js'
import { DASHBOARD_DIR, dashboardQueries, datasourceRefs, loadDashboards, parseLabelValues, substituteGrafanaVariables } from '../helpers/dashboards.js'
import { requireBinary } from '../helpers/prometheus-server.js'

// The committed Grafana JSON: generated from dashboards/src (and current), provisioned-datasource
// references only, stable uids, and PromQL that parses. test/integration/dashboards-prometheus
// checks that every query also returns data from a real Prometheus.

const dashboards = loadDashboards()

describe('dashboards/json', () => {
  it('is exactly what `npm run dashboards` generates from dashboards/src', () => {
    const generated = renderAll()
    expect(dashboards.map((d) => d.file).sort()).toEqual([...generated.keys()].sort())
    for (const [file, text] of generated) expect(readFileSync(`${DASHBOARD_DIR}/${file}`, 'utf8'), `${file} is stale: run npm run dashboards`).toBe(text)
  })

  it('is typed against the Grafana version the stack runs (@grafana/schema = the grafana image tag)', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> }
    const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { 'x-images': Record<string, string> }
    expect(compose['x-images'].grafana).toBe(`grafana/grafana:${pkg.devDependencies['@grafana/schema']}`)
  })

  it('has stable, unique uids matching the file names, and a pinned schemaVersion', () => {
    const uids = dashboards.map((d) => d.model.uid)
    expect(new Set(uids).size).toBe(uids.length)
    for (const d of dashboards) {
      expect(d.file).toBe(`${d.model.uid}.json`)
      expect(d.model.uid).toMatch(/^cachelab-[a-z0-9-]+$/)
      expect(d.model.schemaVersion).toBe(SCHEMA_VERSION)
    }
  })

  it('references only the provisioned Prometheus datasource (uid prometheus), never ${DS_...}', () => {
    const provisioned = parse(readFileSync('dashboards/provisioning/datasources/prometheus.yml', 'utf8')) as { datasources: { uid: string; type: string }[] }
    expect(provisioned.datasources.map((d) => ({ type: d.type, uid: d.uid }))).toEqual([DATASOURCE])
    for (const d of dashboards) {
      expect(JSON.stringify(d.model)).not.toMatch(/\$\{DS_/)
      const refs = datasourceRefs(d.model)
      expect(refs.length).toBeGreaterThan(0)
      for (const { path, ref } of refs) expect(ref, `${d.file} ${path}`).toEqual(DATASOURCE)
    }
  })

  it('gives every panel a title, a description and at least one query, inside the 24-column grid without overlaps (open rows)', () => {
    for (const d of dashboards) {
      const cells = new Set<string>()
      for (const p of d.model.panels as { type: string; title: string; description?: string; targets?: unknown[]; gridPos: { x: number; y: number; w: number; h: number } }[]) {
        const { x, y, w, h } = p.gridPos
        expect(x + w, `${d.file} "${p.title}"`).toBeLessThanOrEqual(24)
        for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${d.file} "${p.title}" overlaps at ${i},${j}`).toBe(false)
          cells.add(`${i},${j}`)
        }
        // A collapsed row holds its panels inside it.
        for (const inner of p.type === 'row' ? ((p as { panels?: typeof p[] }).panels ?? []) : [p]) {
          expect(inner.title).toBeTruthy()
          expect(inner.description, `${d.file} "${inner.title}" description`).toBeTruthy()
          expect(inner.targets?.length, `${d.file} "${inner.title}" queries`).toBeGreaterThan(0)
        }
      }
    }
  })

  it('shows every scenario section of dashboards/src/scenarios (each file registered, each section on the overview with all its panels)', async () => {
    // A section file left out of SCENARIO_SECTIONS would be neither provisioned nor checked against Prometheus.
    const files = readdirSync('dashboards/src/scenarios').filter((f) => f.endsWith('.ts') && f !== 'index.ts')
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      const sections = Object.values(await import(`../../dashboards/src/scenarios/${f}`)).filter((v): v is { title: string } => typeof v === 'object' && v !== null && 'panels' in v)
      expect(sections.length, `dashboards/src/scenarios/${f} exports a Section`).toBeGreaterThan(0)
      for (const section of sections) expect(SCENARIO_SECTIONS, `dashboards/src/scenarios/${f}: "${section.title}" is not in SCENARIO_SECTIONS (scenarios/index.ts)`).toContain(section)
    }
    const overview = dashboards.find((d) => d.model.uid === 'cachelab-overview')!.model
    const top = overview.panels as { type: string; title: string; collapsed?: boolean; panels?: { title: string }[] }[]
    for (const section of SCENARIO_SECTIONS) {
      const at = top.findIndex((p) => p.type === 'row' && p.title === section.title)
      expect(at, `overview row "${section.title}"`).toBeGreaterThanOrEqual(0)
      // A collapsed row holds its panels; an open one is followed by them.
      const next = top.findIndex((p, i) => i > at && p.type === 'row')
      const inRow = top[at]!.collapsed ? (top[at]!.panels ?? []) : top.slice(at + 1, next === -1 ? undefined : next)
      expect(inRow.map((p) => p.title)).toEqual(section.panels.map((p) => p.title))
    }
  })

  it('has every panel of the overview in README.md ("What the overview dashboard shows"): each panel by its title, each scenario section by its name', () => {
    const readme = readFileSync('README.md', 'utf8')
    const start = readme.indexOf('\n| panel | what to look for |', readme.indexOf('### What the overview dashboard shows'))
    expect(start, 'README.md: the overview panel table').toBeGreaterThanOrEqual(0)
    const lines = readme.slice(start + 1).split('\n')
    const table = lines.slice(2, lines.findIndex((l) => !l.startsWith('|')))
    const firstColumn = new Set(table.map((l) => l.split('|')[1]!.trim()))
    const overview = dashboards.find((d) => d.model.uid === 'cachelab-overview')!.model
    for (const p of overview.panels as { type: string; title: string; collapsed?: boolean }[]) {
      if (p.type !== 'row') expect(firstColumn, `panel "${p.title}"`).toContain(p.title)
      else if (p.collapsed) expect(firstColumn, `section "${p.title}"`).toContain(`**${p.title.split(':')[0]}** (section)`)
    }
  })

  it('has every panel README.md tells to watch during a scenario ("What to look for, per scenario")', () => {
    const readme = readFileSync('README.md', 'utf8')
    const start = readme.indexOf('What to look for, per scenario')
    expect(start, 'README.md: "What to look for, per scenario"').toBeGreaterThanOrEqual(0)
    const rows = readme.slice(start).split('\n\n')[1]!.split('\n').filter((l) => l.startsWith('| **'))
    expect(rows.length).toBeGreaterThan(0)
    const titles: string[] = []
    const collect = (panels: { title: string; panels?: unknown[] }[]) => {
      for (const p of panels) {
        titles.push(p.title.toLowerCase())
        collect((p.panels ?? []) as typeof panels)
      }
    }
    for (const d of dashboards) collect(d.model.panels)
    for (const row of rows) {
      const watch = row.split('|').at(-2)!
      for (const [, name] of watch.matchAll(/\*\*([^*]+)\*\*/g)) expect(titles.some((t) => t.includes(name!.toLowerCase())), `README.md names panel "${name}" (${row.split('|')[1]!.trim()})`).toBe(true)
    }
  })

  it("has PromQL that parses: every query as a recording rule through `promtool check rules` (Debian's prometheus)", () => {
    const promtool = requireBinary('promtool', 'prometheus')
    const rules: { record: string; expr: string }[] = []
    for (const d of dashboards) {
      for (const query of dashboardQueries(d)) {
        const expr = query.kind === 'variable' ? parseLabelValues(query.expr).selector : substituteGrafanaVariables(query.expr, d, { stepSeconds: 15, scrapeSeconds: 5, rangeSeconds: 900 })
        rules.push({ record: `dashboard_query_${rules.length}`, expr })
      }
    }
    expect(rules.length).toBeGreaterThan(10)
    const dir = mkdtempSync(join(tmpdir(), 'cachelab-rules-'))
    try {
      const file = join(dir, 'dashboard-queries.yml')
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard-queries', rules }] }))
      let output: string
      try {
        output = execFileSync(promtool, ['check', 'rules', file], { encoding: 'utf8', stdio: 'pipe', timeout: 30_000 })
      } catch (err) {
        output = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`
      }
      expect(output).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
