import type { PenetrationStrategy } from '../types.js'
import { defineMode } from '../types.js'
import { BloomIndex } from './bloom-index.js'
import { recordCreation } from './creation-journal.js'

export default defineMode({
  family: 'penetration',
  name: 'bloom',
  description:
    'A Bloom filter of every order id (bloom-filters, in memory on each replica) answers "definitely absent" before Redis and MySQL are read. Built from MySQL plus the creation journal, sized from bloomCapacity and bloomFpRate; it catches up with creations on every replica before it rejects, so it never hides an existing order.',
  uses: ['bloomCapacity', 'bloomFpRate'],
  create: async (ctx, params): Promise<PenetrationStrategy> => {
    const index = await BloomIndex.start(ctx, params)
    return {
      bloom: index,
      mightExist: (id) => index.mightExist(id),
      onMissingInDb: async () => {},
      onAbsent: (id) => index.onAbsent(id),
      // Required: a replica rejects only what the journal does not hold.
      beforeCreate: (id) => recordCreation(ctx, id, { required: true }),
      onCreated: async (id) => index.add(id),
    }
  },
  dispose: (instance) => instance.bloom?.close(),
})
