import { defineMode } from '../types.js'
import { recordCreation } from './creation-journal.js'

export default defineMode({
  family: 'penetration',
  name: 'none',
  description: 'No defense: every request for a missing id misses the cache and queries MySQL. Creations are still journaled (best effort) so a defense switched on later knows them.',
  uses: [],
  create: (ctx) => ({
    mightExist: () => true,
    onMissingInDb: async () => {},
    // Best effort: no defense relies on it while this mode is active.
    beforeCreate: (id) => recordCreation(ctx, id, { required: false }),
    onCreated: async () => {},
  }),
})
