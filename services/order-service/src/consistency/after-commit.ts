import { CacheUnavailable } from '../errors.js'
import type { Order } from '../schemas/order.js'
import type { CacheWriter, StrategyContext } from '../strategies/types.js'
import { delayedDeletesFor } from './delayed-deletes.js'

// Once MySQL has committed, the write is done: a cache failure must neither fail the request nor
// leave the old entry behind. It becomes a durable delete job (retried, never dropped).

/** Deletes the order's entry after a commit; on failure, a retry job takes over. */
export async function deleteAfterCommit(ctx: StrategyContext, id: string): Promise<void> {
  try {
    await ctx.cache.del(id, 'update')
  } catch {
    await delayedDeletesFor(ctx).retryDelete(id)
  }
}

/** Writes the committed order to the cache (update-then-set, versioned); on failure, deletes it through a retry job. */
export async function setAfterCommit(ctx: StrategyContext, cache: CacheWriter, order: Order): Promise<void> {
  const sets = ctx.metrics.counter('cachelab_consistency_cache_sets_total', 'Cache writes of an updated order by its writer (update-then-set, versioned), by result', ['result'])
  try {
    sets.inc({ result: (await cache.set(order.id, JSON.stringify(order))) ? 'ok' : 'refused' })
  } catch {
    sets.inc({ result: 'error' })
    await delayedDeletesFor(ctx).retryDelete(order.id)
  }
}

/** Deletes the entry before MySQL is written; throws a 503 (nothing written) when Redis fails. */
export async function deleteBeforeWrite(ctx: StrategyContext, id: string): Promise<void> {
  try {
    await ctx.cache.del(id, 'update')
  } catch (err) {
    throw new CacheUnavailable(`the cached entry could not be deleted before the write (${(err as Error).message}); nothing was written`)
  }
}
