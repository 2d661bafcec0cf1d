import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from 'typebox'
import { defineChaos } from '../types.js'

const Operation = Type.Union(['select', 'insert', 'update', 'delete', 'scan', 'other'].map((op) => Type.Literal(op)))

export default defineChaos({
  kind: 'fault',
  name: 'db-latency',
  description: 'Adds latency to every MySQL query (holding its connection, like a slow query would); a query whose deadline passes meanwhile is not run.',
  params: Type.Object(
    {
      ms: Type.Integer({ minimum: 1, maximum: 60_000, default: 100, description: 'added latency per query' }),
      operations: Type.Optional(Type.Array(Operation, { minItems: 1, uniqueItems: true, description: 'only these operations (default: all)' })),
    },
    { additionalProperties: false },
  ),
  hooks: ({ ms, operations }) => ({
    db: {
      affects: (op) => !operations || (operations as string[]).includes(op),
      // Gives up at the query's deadline: the query is then never sent (see OrderRepository.run).
      apply: (_op, signal) => sleep(ms, undefined, { signal }),
    },
  }),
})
