import { Type } from 'typebox'
import { defineChaos } from '../types.js'

const WriteOperation = Type.Union(['insert', 'update', 'delete'].map((op) => Type.Literal(op)))

export default defineChaos({
  kind: 'fault',
  name: 'db-block-writes',
  description:
    'Holds every MySQL write (like a table lock) until the fault is cleared; each held query gives up at its deadline (MYSQL_QUERY_TIMEOUT_MS) without running. Reaches the order worker too.',
  params: Type.Object(
    {
      operations: Type.Array(WriteOperation, { minItems: 1, uniqueItems: true, default: ['insert', 'update', 'delete'], description: 'which writes are held' }),
    },
    { additionalProperties: false },
  ),
  hooks: ({ operations }) => {
    const ops = new Set<string>(operations)
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    return {
      db: {
        affects: (op) => ops.has(op),
        apply: (_op, signal) =>
          new Promise<void>((resolve, reject) => {
            if (signal.aborted) return reject(signal.reason)
            const onAbort = () => reject(signal.reason)
            signal.addEventListener('abort', onAbort, { once: true })
            void released.then(() => {
              signal.removeEventListener('abort', onAbort)
              resolve()
            })
          }),
      },
      dispose: release,
    }
  },
})
