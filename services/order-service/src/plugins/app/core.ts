import fp from 'fastify-plugin'
import { CacheStore } from '../../cache/cache-store.js'
import { CacheKeys } from '../../cache/keys.js'
import { ChaosRegistry } from '../../chaos/registry.js'
import { OrderRepository } from '../../db/order-repository.js'
import { IdGenerator } from '../../ids.js'
import { OrderService } from '../../order-service.js'
import { SharedState } from '../../shared-state.js'
import { MODES } from '../../strategies/catalogue.js'
import { FAMILIES } from '../../strategies/families.js'
import { StrategyRegistry } from '../../strategies/registry.js'
import type { StrategyContext } from '../../strategies/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    keys: CacheKeys
    cache: CacheStore
    repo: OrderRepository
    chaos: ChaosRegistry
    strategies: StrategyRegistry
    orders: OrderService
    strategyContext: StrategyContext
  }
}

/** Our own parts, wired once per app: repository, cache, chaos and strategy registries, order service. */
export default fp(
  async (app) => {
    const c = app.config
    const keys = new CacheKeys(c.KEY_PREFIX)
    const chaos = new ChaosRegistry(app.metrics)
    const repo = new OrderRepository(app.mysql, app.metrics, chaos, c.MYSQL_QUERY_TIMEOUT_MS)
    const cache = new CacheStore(app.redis, keys, app.metrics)
    const ctx: StrategyContext = { redis: app.redis, cache, repo, keys, metrics: app.metrics, log: app.log }
    const strategies = await StrategyRegistry.create(ctx)
    const ids = await IdGenerator.forReplica(app.redis, keys.named('id-node'))

    for (const f of FAMILIES) for (const m of MODES[f]) app.metrics.strategyMode.set({ family: f, mode: m.name }, 0)
    strategies.onChange((state) => {
      for (const f of FAMILIES) for (const m of MODES[f]) app.metrics.strategyMode.set({ family: f, mode: m.name }, state[f].mode === m.name ? 1 : 0)
    })

    const onError = (what: string) => (err: Error) => app.log.warn({ err: err.message }, `${what} could not be read from Redis; keeping the last known state`)
    await strategies.attach(new SharedState({ redis: app.redis, subscriber: app.redisSubscriber, key: keys.strategies(), onChange: (f) => strategies.applyStored(f), onError: onError('strategies') }))
    await chaos.attach(new SharedState({ redis: app.redis, subscriber: app.redisSubscriber, key: keys.chaos(), onChange: (f) => chaos.applyStored(f), onError: onError('chaos') }))

    app.decorate('keys', keys)
    app.decorate('cache', cache)
    app.decorate('repo', repo)
    app.decorate('chaos', chaos)
    app.decorate('strategies', strategies)
    app.decorate('strategyContext', ctx)
    app.decorate('orders', new OrderService(strategies, cache, repo, chaos, app.metrics, ids, app.log))

    app.addHook('onClose', async () => {
      chaos.close()
      await strategies.close()
    })
  },
  { name: 'core', dependencies: ['config', 'metrics', 'redis', 'mysql'] },
)
