import { defineMode } from '../types.js'
import { fillSentinel, recordCreation } from './creation-journal.js'

export default defineMode({
  family: 'penetration',
  name: 'null-cache',
  description:
    'A MySQL miss caches a "not found" sentinel for nullTtlSeconds (never jittered); a sentinel hit answers 404 without MySQL. Creating an order clears its sentinel and fences the id, so a new order is never hidden. Helps against a few repeated missing ids, not against random ones.',
  uses: ['nullTtlSeconds'],
  create: (ctx, params) => ({
    mightExist: () => true,
    onMissingInDb: (id) => fillSentinel(ctx, id, params.nullTtlSeconds),
    // Required: an unrecorded creation could stay hidden behind a stale sentinel.
    beforeCreate: (id) => recordCreation(ctx, id, { required: true }),
    onCreated: async () => {},
  }),
})
