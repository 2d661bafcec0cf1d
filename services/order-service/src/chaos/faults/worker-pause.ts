import { Type } from 'typebox'
import { defineChaos } from '../types.js'

export default defineChaos({
  kind: 'fault',
  name: 'worker-pause',
  description: 'Every order worker stops taking messages (it finishes the batch in hand); the queue grows until the fault is cleared.',
  params: Type.Object({}, { additionalProperties: false }),
  hooks: () => ({ worker: { paused: true } }),
})
