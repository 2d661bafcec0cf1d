import { round } from '../runner/figures.js'
import { defineScenario } from '../runner/types.js'

export default defineScenario({
  name: 'hot-set',
  effects({ records, metrics }) {
    const ids = new Set<string>()
    for (const r of records) if (r.kind === 'read' && r.id !== undefined) ids.add(r.id)
    const selects = metrics.delta('cachelab_db_queries_total{operation="select"}')
    return {
      loadsPerId: ids.size > 0 ? round(selects / ids.size, 3) : null,
      distinctIds: ids.size,
    }
  },
})
