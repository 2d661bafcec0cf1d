import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from 'typebox'
import { defineChaos } from '../types.js'

// The slow reader of the stale-set race: it has read the row from MySQL and its cache fill lands
// `ms` later; a write that commits and invalidates meanwhile is undone by the fill. To delay the
// write side instead (the window of delete-then-update between its delete and its commit), use
// db-latency with operations ["update"]: it holds the UPDATE before it runs, so before it commits.
export default defineChaos({
  kind: 'fault',
  name: 'race-window',
  description: 'Holds every read-path cache fill for `ms` after its MySQL read, widening the window in which a write can be undone by an old row (the stale-set race).',
  params: Type.Object(
    {
      ms: Type.Integer({ minimum: 1, maximum: 60_000, default: 200, description: 'delay between the MySQL read and the cache fill' }),
    },
    { additionalProperties: false },
  ),
  hooks: ({ ms }) => ({ beforeCacheFill: () => sleep(ms) }),
})
