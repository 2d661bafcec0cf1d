import { deleteAfterCommit } from '../../consistency/after-commit.js'
import { defineMode } from '../types.js'

export default defineMode({
  family: 'consistency',
  name: 'update-then-delete',
  description:
    'Cache-aside: update MySQL, then delete the cached entry. A slow reader that loaded the old row before the update can still put it back (the stale-set race).',
  uses: [],
  create: (ctx) => ({
    async update(id, patch) {
      const order = await ctx.repo.update(id, patch)
      if (order) await deleteAfterCommit(ctx, id)
      return order
    },
  }),
})
