import type { PenetrationStrategy } from '../types.js'
import { defineMode } from '../types.js'
import { BloomIndex } from './bloom-index.js'
import { fillSentinel, recordCreation } from './creation-journal.js'

export default defineMode({
  family: 'penetration',
  name: 'bloom+null-cache',
  description:
    'Both defenses: the Bloom filter rejects most missing ids outright; the ones it lets through (false positives) get a "not found" sentinel, so even a repeated false positive reaches MySQL once per nullTtlSeconds.',
  uses: ['nullTtlSeconds', 'bloomCapacity', 'bloomFpRate'],
  create: async (ctx, params): Promise<PenetrationStrategy> => {
    const index = await BloomIndex.start(ctx, params)
    return {
      bloom: index,
      mightExist: (id) => index.mightExist(id),
      onMissingInDb: (id) => fillSentinel(ctx, id, params.nullTtlSeconds),
      onAbsent: (id) => index.onAbsent(id),
      beforeCreate: (id) => recordCreation(ctx, id, { required: true }),
      onCreated: async (id) => index.add(id),
    }
  },
  dispose: (instance) => instance.bloom?.close(),
})
