import { deleteBeforeWrite } from '../../consistency/after-commit.js'
import { defineMode } from '../types.js'

export default defineMode({
  family: 'consistency',
  name: 'delete-then-update',
  description:
    'Delete the cached entry, then update MySQL. Any read between the delete and the commit misses, loads the old row and caches it, on top of the slow-reader race: at least as stale as update-then-delete.',
  uses: [],
  create: (ctx) => ({
    async update(id, patch) {
      await deleteBeforeWrite(ctx, id)
      return ctx.repo.update(id, patch)
    },
  }),
})
