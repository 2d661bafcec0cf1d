import {
  type AnnotationQuery,
  BigValueColorMode,
  BigValueGraphMode,
  BigValueJustifyMode,
  BigValueTextMode,
  type Dashboard,
  DashboardCursorSync,
  type DashboardLink,
  type DataQuery,
  FieldColorModeId,
  type FieldConfigSource,
  GraphDrawStyle,
  type GridPos,
  LegendDisplayMode,
  MappingType,
  type Panel,
  PercentChangeColorMode,
  type RowPanel,
  SortOrder,
  StackingMode,
  type ThresholdsConfig,
  ThresholdsMode,
  TooltipDisplayMode,
  type ValueMapping,
  type VariableModel,
  VariableRefresh,
  VariableSort,
  VisibilityMode,
  VizOrientation,
} from '@grafana/schema'
import type { Options as StatOptions } from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen.js'
import type { FieldConfig as StateTimelineFieldConfig, Options as StateTimelineOptions } from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen.js'
import type { FieldConfig as TimeSeriesFieldConfig, Options as TimeSeriesOptions } from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.js'

/**
 * A small, typed builder for the Grafana dashboard JSON this lab provisions. Dashboards are
 * described as sections of panels; `dashboard()` lays them out (24-column grid, rows), numbers
 * panels and queries, and points every query at the provisioned Prometheus datasource. The JSON
 * under dashboards/json/ is generated from these descriptions by `npm run dashboards`.
 *
 * A panel is one call, e.g.
 *   timeseries('Bloom rejects/s', 'What the filter answered without Redis or MySQL.',
 *     [q(sumRate('cachelab_cache_lookups_total{outcome="bloom_reject"}'), 'rejects/s')], { unit: 'reqps' })
 */

/** Grafana's dashboard JSON model version these dashboards are written for (Grafana 11). */
export const SCHEMA_VERSION = 39

/** The datasource provisioned by dashboards/provisioning/datasources/prometheus.yml. */
export const DATASOURCE = { type: 'prometheus', uid: 'prometheus' } as const

/** Grafana's rate window: at least four scrape intervals, so rate() always has two samples. */
export const RATE_INTERVAL = '$__rate_interval'

/** One PromQL query of a panel; `legend` is Grafana's legendFormat (`{{label}}` placeholders). */
export interface Query {
  expr: string
  legend?: string
}

export function q(expr: string, legend?: string): Query {
  return legend === undefined ? { expr } : { expr, legend }
}

/** `sum [by (labels)] (rate(selector[$__rate_interval]))`: per-second rate of a counter. */
export function sumRate(selector: string, by: string[] = []): string {
  return `sum${byClause(by)} (rate(${selector}[${RATE_INTERVAL}]))`
}

/** Quantile of a classic histogram (`<name>_bucket`), per `by` labels. `filter` is `{...}` or ''. */
export function histogramQuantile(quantile: number, histogram: string, by: string[] = [], filter = ''): string {
  return `histogram_quantile(${quantile}, sum by (${['le', ...by].join(', ')}) (rate(${histogram}_bucket${filter}[${RATE_INTERVAL}])))`
}

function byClause(by: string[]): string {
  return by.length > 0 ? ` by (${by.join(', ')})` : ''
}

/** Grafana unit ids used here (see Grafana's "Standard options > Unit"). */
export type Unit = 'reqps' | 'ops' | 's' | 'percentunit' | 'short' | 'bytes' | 'none'

interface PanelCommon {
  title: string
  /** Shown in the panel's (i) tooltip: what to look for. */
  description: string
  queries: Query[]
  /** Grid columns out of 24 (default 12). */
  width?: number
  /** Grid rows (default 8). */
  height?: number
}

export interface TimeSeriesPanel extends PanelCommon {
  kind: 'timeseries'
  unit: Unit
  stacked?: boolean
  min?: number
  max?: number
  /** Text shown instead of "No data" when a query legitimately has no series (say why). */
  noValue?: string
}

export interface StatPanel extends PanelCommon {
  kind: 'stat'
  unit: Unit
  /** Value thresholds, lowest first: [[value|null, color]]; the first value must be null. */
  thresholds?: [number | null, string][]
}

/** One row per series; the value is mapped to a state name and colour (e.g. 0 off, 1 active). */
export interface StateTimelinePanel extends PanelCommon {
  kind: 'state-timeline'
  states: { value: number; text: string; color: string }[]
}

export type Panel_ = TimeSeriesPanel | StatPanel | StateTimelinePanel

export interface PanelOptions {
  width?: number
  height?: number
}

export function timeseries(title: string, description: string, queries: Query[], opts: PanelOptions & { unit: Unit; stacked?: boolean; min?: number; max?: number; noValue?: string }): TimeSeriesPanel {
  return { kind: 'timeseries', title, description, queries, ...opts }
}

export function stat(title: string, description: string, queries: Query[], opts: PanelOptions & { unit: Unit; thresholds?: [number | null, string][] }): StatPanel {
  return { kind: 'stat', title, description, queries, ...opts }
}

export function stateTimeline(title: string, description: string, queries: Query[], states: StateTimelinePanel['states'], opts: PanelOptions = {}): StateTimelinePanel {
  return { kind: 'state-timeline', title, description, queries, states, ...opts }
}

/** A titled row of panels; a collapsed one opens on click (Grafana keeps its panels inside the row). */
export interface Section {
  title: string
  panels: Panel_[]
  collapsed?: boolean
}

/**
 * A Prometheus annotation: every contiguous stretch where `expr` has a value becomes a region on
 * every time-series panel of the dashboard (e.g. while a chaos fault is active).
 */
export interface Annotation {
  name: string
  expr: string
  /** `{{label}}` placeholders. */
  title: string
  color: string
  tagKeys?: string[]
}

/** A dashboard variable filled from a label's values: `label_values(metric, label)`. */
export interface LabelVariable {
  name: string
  label: string
  metric: string
  labelName: string
  /** Matches every value, including series without the label. */
  allValue: string
}

export interface DashboardSpec {
  uid: string
  title: string
  description: string
  tags: string[]
  sections: Section[]
  annotations?: Annotation[]
  variables?: LabelVariable[]
  /** Default time range, e.g. 'now-15m'. */
  from?: string
}

const GRID_WIDTH = 24

/** A Prometheus query target (the fields Grafana's Prometheus datasource reads). */
interface PrometheusTarget extends DataQuery {
  expr: string
  legendFormat: string
  range: boolean
  instant: boolean
  editorMode: 'code' | 'builder'
}

/** A Prometheus annotation in the form Grafana's Prometheus datasource reads (fields beside the common ones). */
interface PrometheusAnnotation extends AnnotationQuery {
  expr: string
  step: string
  titleFormat: string
  textFormat: string
  tagKeys: string
  useValueForTime: boolean
}

/**
 * The Grafana JSON model of a dashboard, typed against Grafana's own schema package
 * (@grafana/schema, the version of the Grafana image in docker-compose.yml). Deterministic: the
 * same spec gives the same JSON.
 */
export function dashboard(spec: DashboardSpec): Dashboard {
  const panels: (Panel | RowPanel)[] = []
  let id = 1
  let y = 0
  for (const section of spec.sections) {
    const collapsed = section.collapsed ?? false
    const row: RowPanel = { id: id++, type: 'row', title: section.title, collapsed, gridPos: { h: 1, w: GRID_WIDTH, x: 0, y }, panels: [] }
    panels.push(row)
    y += 1
    let x = 0
    let rowY = y
    let rowHeight = 0
    for (const panel of section.panels) {
      const w = panel.width ?? 12
      const h = panel.height ?? 8
      if (x + w > GRID_WIDTH) {
        rowY += rowHeight
        x = 0
        rowHeight = 0
      }
      const rendered = renderPanel(panel, id++, { h, w, x, y: rowY })
      if (collapsed) row.panels.push(rendered)
      else panels.push(rendered)
      x += w
      rowHeight = Math.max(rowHeight, h)
    }
    // A collapsed row takes one grid row; its panels keep the positions they get when opened.
    if (!collapsed) y = rowY + rowHeight
  }

  const links: DashboardLink[] = [{ type: 'dashboards', title: 'cachelab dashboards', tags: ['cachelab'], asDropdown: true, includeVars: false, keepTime: true, icon: 'external link', tooltip: '', targetBlank: false, url: '' }]
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    editable: false,
    graphTooltip: DashboardCursorSync.Crosshair,
    timezone: 'browser',
    refresh: '5s',
    time: { from: spec.from ?? 'now-15m', to: 'now' },
    timepicker: { refresh_intervals: ['5s', '10s', '30s', '1m', '5m'] },
    fiscalYearStartMonth: 0,
    liveNow: false,
    links,
    annotations: { list: (spec.annotations ?? []).map(renderAnnotation) },
    templating: { list: (spec.variables ?? []).map(renderVariable) },
    panels,
  }
}

function renderTargets(queries: Query[]): PrometheusTarget[] {
  return queries.map((query, i) => ({
    datasource: DATASOURCE,
    refId: String.fromCharCode(65 + i),
    expr: query.expr,
    legendFormat: query.legend ?? '__auto',
    range: true,
    instant: false,
    editorMode: 'code',
  }))
}

function renderPanel(panel: Panel_, id: number, gridPos: GridPos): Panel {
  const common = { id, type: panel.kind, title: panel.title, description: panel.description, datasource: DATASOURCE, gridPos, targets: renderTargets(panel.queries).map((t) => ({ ...t })) }
  switch (panel.kind) {
    case 'timeseries': {
      const custom: TimeSeriesFieldConfig = {
        drawStyle: GraphDrawStyle.Line,
        lineWidth: 1,
        fillOpacity: panel.stacked ? 40 : 10,
        showPoints: VisibilityMode.Never,
        spanNulls: false,
        stacking: { mode: panel.stacked ? StackingMode.Normal : StackingMode.None, group: 'A' },
        axisSoftMin: 0,
      }
      const options: TimeSeriesOptions = {
        legend: { showLegend: true, displayMode: LegendDisplayMode.List, placement: 'bottom', calcs: [] },
        tooltip: { mode: TooltipDisplayMode.Multi, sort: SortOrder.Descending },
      }
      const fieldConfig: FieldConfigSource<TimeSeriesFieldConfig> = {
        defaults: {
          unit: panel.unit,
          ...(panel.min !== undefined ? { min: panel.min } : {}),
          ...(panel.max !== undefined ? { max: panel.max } : {}),
          ...(panel.noValue !== undefined ? { noValue: panel.noValue } : {}),
          color: { mode: FieldColorModeId.PaletteClassic },
          custom: { ...custom },
        },
        overrides: [],
      }
      return { ...common, fieldConfig: widen(fieldConfig), options: { ...options } }
    }
    case 'stat': {
      const thresholds: ThresholdsConfig = { mode: ThresholdsMode.Absolute, steps: (panel.thresholds ?? [[null, 'green']]).map(([value, color]) => ({ value: value as number, color })) }
      const options: StatOptions = {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: BigValueColorMode.Value,
        graphMode: BigValueGraphMode.Area,
        justifyMode: BigValueJustifyMode.Auto,
        orientation: VizOrientation.Auto,
        textMode: BigValueTextMode.Auto,
        percentChangeColorMode: PercentChangeColorMode.Standard,
        showPercentChange: false,
        wideLayout: true,
      }
      const fieldConfig: FieldConfigSource = { defaults: { unit: panel.unit, color: { mode: FieldColorModeId.Thresholds }, thresholds }, overrides: [] }
      return { ...common, fieldConfig, options: { ...options } }
    }
    case 'state-timeline': {
      const mappings: ValueMapping[] = [
        {
          type: MappingType.ValueToText,
          options: Object.fromEntries(panel.states.map((s, index) => [String(s.value), { text: s.text, color: s.color, index }])),
        },
      ]
      const custom: StateTimelineFieldConfig = { fillOpacity: 80, lineWidth: 0, hideFrom: { legend: false, tooltip: false, viz: false } }
      const fieldConfig: FieldConfigSource<StateTimelineFieldConfig> = {
        defaults: {
          color: { mode: FieldColorModeId.Thresholds },
          // The mappings colour each state; anything unmapped stays invisible.
          thresholds: { mode: ThresholdsMode.Absolute, steps: [{ value: null as unknown as number, color: 'transparent' }] },
          mappings,
          custom: { ...custom },
        },
        overrides: [],
      }
      const options: StateTimelineOptions = {
        mergeValues: true,
        showValue: VisibilityMode.Never,
        alignValue: 'left',
        rowHeight: 0.85,
        legend: { showLegend: false, displayMode: LegendDisplayMode.List, placement: 'bottom', calcs: [] },
        tooltip: { mode: TooltipDisplayMode.Single, sort: SortOrder.None },
      }
      return { ...common, fieldConfig: widen(fieldConfig), options: { ...options } }
    }
  }
}

/** A panel's field config, checked against its panel type's own custom options, as the generic Panel takes it. */
function widen<T>(fieldConfig: FieldConfigSource<T>): FieldConfigSource {
  return fieldConfig as FieldConfigSource
}

function renderAnnotation(a: Annotation): PrometheusAnnotation {
  return {
    name: a.name,
    datasource: DATASOURCE,
    enable: true,
    hide: false,
    iconColor: a.color,
    expr: a.expr,
    step: '5s',
    titleFormat: a.title,
    textFormat: '',
    tagKeys: (a.tagKeys ?? []).join(','),
    useValueForTime: false,
  }
}

function renderVariable(v: LabelVariable): VariableModel {
  const query = `label_values(${v.metric}, ${v.labelName})`
  return {
    name: v.name,
    label: v.label,
    type: 'query',
    datasource: DATASOURCE,
    query,
    refresh: VariableRefresh.onTimeRangeChanged,
    includeAll: true,
    multi: true,
    allValue: v.allValue,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    regex: '',
    sort: VariableSort.alphabeticalAsc,
  }
}

/** The JSON text committed under dashboards/json/ (stable key order, 2-space indent, final newline). */
export function toJsonText(model: Dashboard): string {
  return `${JSON.stringify(model, null, 2)}\n`
}
