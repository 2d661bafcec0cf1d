import { Type } from 'typebox'
import { WORKER_KILL_SCRIPT } from '../../queue/worker-kill.js'
import { queueKeys } from '../../queue/order-queue.js'
import { defineChaos } from '../types.js'

export default defineChaos({
  kind: 'action',
  name: 'worker-kill',
  description:
    'Crashes order workers now: each one sends itself SIGKILL (no shutdown, no acknowledgements) within a quarter of a second. Their in-flight messages are reclaimed by a worker after WORKER_CLAIM_IDLE_MS; restart the worker yourself.',
  params: Type.Object(
    { consumer: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'only the worker with this consumer name (see GET /admin/queue); default: every worker' })) },
    { additionalProperties: false },
  ),
  run: async (ctx, { consumer }) => {
    const epoch = await ctx.redis.eval(WORKER_KILL_SCRIPT, 1, queueKeys(ctx.keys).kill, consumer ?? '*')
    return { killEpoch: Number(epoch), target: consumer ?? 'every worker' }
  },
})
