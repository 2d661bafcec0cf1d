import { setAfterCommit } from '../../consistency/after-commit.js'
import { defineMode } from '../types.js'

export default defineMode({
  family: 'consistency',
  name: 'update-then-set',
  description:
    'Update MySQL, then write the new order into the cache. Two writers can land their sets in the opposite order of their commits, and a slow reader can overwrite the new value with the old row.',
  uses: [],
  create: (ctx) => ({
    async update(id, patch, cache) {
      const order = await ctx.repo.update(id, patch)
      if (order) await setAfterCommit(ctx, cache, order)
      return order
    },
  }),
})
