import { toJsonText } from './grafana.js'
import { k6 } from './k6.js'
import { overview } from './overview.js'

/** Every provisioned dashboard. The file name is the dashboard uid. */
export const DASHBOARDS = [overview, k6]

/** dashboards/json/<uid>.json → its text, as `npm run dashboards` writes it. */
export function renderAll(): Map<string, string> {
  return new Map(DASHBOARDS.map((d) => [`${d.uid as string}.json`, toJsonText(d)]))
}
