import { readdirSync, readFileSync } from 'node:fs'

/** The committed dashboards, as Grafana loads them (dashboards/json/*.json). */
export const DASHBOARD_DIR = 'dashboards/json'

export interface DashboardFile {
  file: string
  model: Record<string, any>
}

export function loadDashboards(): DashboardFile[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, model: JSON.parse(readFileSync(`${DASHBOARD_DIR}/${file}`, 'utf8')) }))
}

/** One PromQL expression Grafana will send, and where it comes from. */
export interface DashboardQuery {
  dashboard: string
  /** e.g. `panel "Cache hit ratio" A`, `annotation "Chaos faults"`. */
  where: string
  kind: 'panel' | 'annotation' | 'variable'
  /** As written in the dashboard (Grafana variables not yet substituted). */
  expr: string
}

/** Every query of a dashboard: panel targets, Prometheus annotations, query variables. */
export function dashboardQueries(d: DashboardFile): DashboardQuery[] {
  const uid = d.model.uid as string
  const out: DashboardQuery[] = []
  const visit = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ dashboard: uid, where: `panel "${p.title}" ${t.refId}`, kind: 'panel', expr: t.expr })
      visit(p.panels)
    }
  }
  visit(d.model.panels)
  for (const a of d.model.annotations?.list ?? []) if (a.expr) out.push({ dashboard: uid, where: `annotation "${a.name}"`, kind: 'annotation', expr: a.expr })
  for (const v of d.model.templating?.list ?? []) {
    if (v.type === 'query') out.push({ dashboard: uid, where: `variable $${v.name}`, kind: 'variable', expr: typeof v.query === 'string' ? v.query : v.query.query })
  }
  return out
}

/** Every `datasource` value anywhere in the dashboard JSON, with its path. */
export function datasourceRefs(value: unknown, path = '$'): { path: string; ref: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => datasourceRefs(v, `${path}[${i}]`))
  if (value === null || typeof value !== 'object') return []
  const out: { path: string; ref: unknown }[] = []
  for (const [k, v] of Object.entries(value)) {
    if (k === 'datasource') out.push({ path: `${path}.${k}`, ref: v })
    out.push(...datasourceRefs(v, `${path}.${k}`))
  }
  return out
}

/**
 * Grafana's substitutions before a query reaches Prometheus: `$__rate_interval` (as Grafana
 * computes it: max(step + scrape interval, 4 × scrape interval)), `$__interval`, `$__range`, and the
 * dashboard's variables at "All" (their allValue). An unknown `$name` throws: it would reach
 * Prometheus as is and fail.
 */
export function substituteGrafanaVariables(expr: string, d: DashboardFile, opts: { stepSeconds: number; scrapeSeconds: number; rangeSeconds: number }): string {
  const vars = new Map<string, string>()
  for (const v of d.model.templating?.list ?? []) {
    if (!v.includeAll || typeof v.allValue !== 'string') throw new Error(`${d.model.uid}: variable $${v.name} needs includeAll with an allValue for this check`)
    vars.set(v.name, v.allValue)
  }
  const rateInterval = Math.max(opts.stepSeconds + opts.scrapeSeconds, 4 * opts.scrapeSeconds)
  const builtins: Record<string, string> = {
    __rate_interval: `${rateInterval}s`,
    __interval: `${opts.stepSeconds}s`,
    __range: `${opts.rangeSeconds}s`,
  }
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!
    const value = builtins[name] ?? vars.get(name)
    if (value === undefined) throw new Error(`${d.model.uid}: unknown Grafana variable ${whole} in ${expr}`)
    return value
  })
}

/** `label_values(metric, label)` → its parts (the only variable query form these dashboards use). */
export function parseLabelValues(query: string): { selector: string; label: string } {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim())
  if (!m) throw new Error(`unsupported variable query ${query}: expected label_values(metric, label)`)
  return { selector: m[1]!.trim(), label: m[2]! }
}
