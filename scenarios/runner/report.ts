import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { declarationOf, figureValue, formatFigure } from './figures.js'
import type { Result } from './schemas.js'

// The HTML report: one self-contained file (Chart.js's UMD build and the data inlined, no network
// needed to open it). Per scenario: the sentence saying what the defense changed, the figures
// table, per-phase time series (DB queries/s, hit ratio, p99 latency, plus the scenario's own
// series) and bars comparing the phases' headline and effect figures.

const require = createRequire(import.meta.url)
// The UMD build sits beside the package's main file (the exports map does not list it).
const chartJs = () => readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8')

const COLORS = ['#d1495b', '#00798c', '#edae49', '#30638e', '#66a182', '#8d96a3', '#7b2cbf', '#f77f00']

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** JSON safe to inline in a <script> element. */
function inlineJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

interface ChartSpec {
  id: string
  kind: 'line' | 'bar'
  title: string
  unit?: string
  labels?: string[]
  datasets: { label: string; color: string; data: (number | null)[] | { x: number; y: number | null }[] }[]
}

function chartsFor(result: Result, si: number): ChartSpec[] {
  const color = (i: number) => COLORS[i % COLORS.length]!
  const line = (key: 'dbQueriesPerSec' | 'hitRatio' | 'p99Ms', title: string, unit?: string): ChartSpec => ({
    id: `s${si}-${key}`,
    kind: 'line',
    title,
    ...(unit ? { unit } : {}),
    datasets: result.phases.map((p, i) => ({ label: p.name, color: color(i), data: p.series.t.map((t, k) => ({ x: t, y: p.series[key][k] ?? null })) })),
  })
  const charts: ChartSpec[] = [line('dbQueriesPerSec', 'DB queries per second'), line('hitRatio', 'hit ratio', 'ratio'), line('p99Ms', 'p99 latency (ms)')]
  const extraNames = Object.keys(result.phases[0]?.series.extra ?? {})
  for (const name of extraNames) {
    charts.push({
      id: `s${si}-x-${name}`,
      kind: 'line',
      title: name,
      datasets: result.phases.map((p, i) => ({ label: p.name, color: color(i), data: p.series.t.map((t, k) => ({ x: t, y: p.series.extra[name]?.[k] ?? null })) })),
    })
  }
  const figures = [...new Set([...result.headline, ...result.effects.map((e) => e.name)])]
  for (const name of figures) {
    const d = declarationOf(name, result.effects)
    charts.push({
      id: `s${si}-bar-${name.replace(/\W/g, '_')}`,
      kind: 'bar',
      title: `${d.label}${d.better === 'none' ? '' : d.better === 'higher' ? ' (higher is better)' : ' (lower is better)'}`,
      ...(d.unit ? { unit: d.unit } : {}),
      labels: result.phases.map((p) => p.name),
      datasets: [{ label: d.label, color: '', data: result.phases.map((p) => figureValue(p, name) ?? null) }],
    })
  }
  return charts
}

function figuresTable(result: Result): string {
  const names = ['requests', ...(result.phases.some((p) => p.dropped > 0) ? ['dropped'] : []), 'errors', 'hitRatio', 'dbQueries', 'dbQueriesPer1k', 'latencyMs.p50', 'latencyMs.p99', ...result.effects.map((e) => e.name)]
  const head = names.map((n) => `<th title="${esc(declarationOf(n, result.effects).description)}">${esc(declarationOf(n, result.effects).label)}</th>`).join('')
  const rows = result.phases
    .map((p) => `<tr><th>${esc(p.name)}${p.description ? `<div class="desc">${esc(p.description)}</div>` : ''}</th>${names.map((n) => `<td>${esc(formatFigure(figureValue(p, n), declarationOf(n, result.effects).unit))}</td>`).join('')}</tr>`)
    .join('\n')
  return `<table><thead><tr><th>phase</th>${head}</tr></thead><tbody>${rows}</tbody></table>`
}

function eventsList(result: Result): string {
  const items = result.phases.flatMap((p) => p.events.map((e) => `<li>${esc(p.name)} at ${e.at} s: ${esc(e.what)}${e.detail ? ` — ${esc(e.detail)}` : ''}${e.ok ? '' : ' <b>(failed)</b>'}</li>`))
  return items.length ? `<details><summary>events</summary><ul>${items.join('')}</ul></details>` : ''
}

/** The whole report as one HTML string. */
export function renderReport(results: Result[], meta: { title: string; generatedAt: string }): string {
  const charts: ChartSpec[] = []
  const sections = results.map((r, si) => {
    const cs = chartsFor(r, si)
    charts.push(...cs)
    const canvas = (c: ChartSpec) => `<figure><canvas id="${c.id}" width="560" height="260" data-kind="${c.kind}"></canvas></figure>`
    return `<section id="${esc(r.scenario)}">
<h2>${esc(r.title)} <small>${esc(r.scenario)}${r.quick ? ' · quick' : ''} · seed ${r.seed} · ${r.target.mode}, ${r.target.replicas} replica${r.target.replicas > 1 ? 's' : ''} · ${r.durationSeconds} s</small></h2>
<p class="summary">${esc(r.summary)}</p>
${figuresTable(r)}
<h3>During each phase</h3><div class="grid">${cs.filter((c) => c.kind === 'line').map(canvas).join('')}</div>
<h3>Phases compared</h3><div class="grid">${cs.filter((c) => c.kind === 'bar').map(canvas).join('')}</div>
${eventsList(r)}
</section>`
  })
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(meta.title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{margin:0 0 4px} h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px} h2 small{font-weight:normal;color:#666;font-size:13px}
.summary{font-size:15px;background:#f4f7fb;border-left:4px solid #30638e;padding:8px 12px}
table{border-collapse:collapse;margin:8px 0} th,td{border:1px solid #ddd;padding:4px 8px;text-align:right} thead th,tbody th{text-align:left;background:#fafafa}
.desc{font-weight:normal;color:#666;font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0;border:1px solid #eee;padding:6px}
</style></head><body>
<h1>${esc(meta.title)}</h1>
<p>generated ${esc(meta.generatedAt)} · ${results.length} scenario${results.length === 1 ? '' : 's'}</p>
${sections.join('\n')}
<script>${chartJs().replace(/<\/script/gi, '<\\/script')}</script>
<script>
const CHARTS = ${inlineJson(charts)};
const PALETTE = ${inlineJson(COLORS)};
const RGB = PALETTE.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
const pct = (v) => (Math.round(v * 1000) / 10) + '%';
let painted = 0;
for (const c of CHARTS) {
  const el = document.getElementById(c.id);
  const ratio = c.unit === 'ratio';
  const bar = c.kind === 'bar';
  const chart = new Chart(el, {
    type: c.kind,
    data: bar
      ? { labels: c.labels, datasets: c.datasets.map((d) => ({ label: d.label, data: d.data, backgroundColor: c.labels.map((_, i) => PALETTE[i % PALETTE.length]) })) }
      : { datasets: c.datasets.map((d) => ({ label: d.label, data: d.data, borderColor: d.color, backgroundColor: d.color, pointRadius: 0, borderWidth: 2, spanGaps: false })) },
    options: {
      animation: false, responsive: false, parsing: bar ? undefined : false,
      plugins: { title: { display: true, text: c.title }, legend: { display: !bar } },
      scales: {
        x: bar ? {} : { type: 'linear', title: { display: true, text: 'seconds into the measured part' } },
        y: { beginAtZero: true, ...(ratio ? { max: 1, ticks: { callback: pct } } : {}) },
      },
    },
  });
  // Proof for the report test, from the canvas itself: pixels painted at all, and pixels in the
  // phases' colours inside the plot area (the data: lines and bars; axes, text and legend are not).
  const px = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
  const area = chart.chartArea;
  let n = 0, data = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] === 0) continue;
    n++;
    const x = (i / 4) % el.width, y = Math.floor(i / 4 / el.width);
    if (x <= area.left || x >= area.right || y <= area.top || y >= area.bottom) continue;
    if (RGB.some(([r, g, b]) => Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 60)) data++;
  }
  el.dataset.painted = String(n);
  el.dataset.dataPixels = String(data);
  if (data > 0) painted++;
}
document.body.dataset.chartsPainted = painted + '/' + CHARTS.length;
</script>
</body></html>
`
}

/** Writes index.html (and results.json) into dir; returns the HTML path. */
export function writeReport(dir: string, results: Result[], json: unknown, meta: { title: string; generatedAt: string }): string {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, 'index.html')
  writeFileSync(path, renderReport(results, meta))
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(json, null, 2)}\n`)
  return path
}
