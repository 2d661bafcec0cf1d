import { delayedDeletesFor } from '../../consistency/delayed-deletes.js'
import { CacheUnavailable } from '../../errors.js'
import { defineMode } from '../types.js'

// The job is written before MySQL, due at the delay plus this bound on the update: if the process
// dies after the commit and before the job is moved to commit + delay, the second delete still
// runs after the delay counted from the commit (later, never earlier).
const UPDATE_BOUND_MS = 10_000

export default defineMode({
  family: 'consistency',
  name: 'delayed-double-delete',
  description:
    'Delete the cached entry, update MySQL, and delete it again doubleDeleteDelayMs after the commit, removing what a slow reader put back meanwhile. The second delete is a durable job in Redis run by any replica: it survives the death of the writer, and a failed one is retried.',
  uses: ['doubleDeleteDelayMs'],
  create: (ctx, { doubleDeleteDelayMs }) => {
    const jobs = delayedDeletesFor(ctx)
    return {
      async update(id, patch) {
        let job: string
        try {
          job = await jobs.deleteNowAndSchedule(id, Date.now() + doubleDeleteDelayMs + UPDATE_BOUND_MS)
        } catch (err) {
          throw new CacheUnavailable(`the first delete could not be done or its second delete scheduled (${(err as Error).message}); nothing was written`)
        }
        // A failed update leaves the job in place: on a timeout the write may still have committed.
        const order = await ctx.repo.update(id, patch)
        if (!order) {
          await jobs.cancel(job)
          return null
        }
        await jobs.reschedule(job, Date.now() + doubleDeleteDelayMs)
        return order
      },
    }
  },
})
