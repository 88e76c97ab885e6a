// Redis (ioredis), when REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS is set (src/lib/redis.ts):
// short timeouts and no offline queue, so a slow or stopped Redis fails fast and callers fall back;
// reconnects by itself. `fastify.redis` is null without it.
import fp from 'fastify-plugin'
import { createRedisClient, type RedisClient } from '../src/lib/redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient | null
  }
}

export default fp(
  async (fastify) => {
    const redis = createRedisClient(fastify.config)
    if (!redis) {
      fastify.decorate('redis', null)
      return
    }
    let down = false
    redis.on('error', (err) => {
      if (down) return
      down = true // one warning per outage, not one per reconnect attempt
      fastify.log.warn({ err: { message: err.message } }, 'redis unavailable: cache bypassed, rate limits per policy')
    })
    redis.on('ready', () => {
      if (down) fastify.log.info('redis is back')
      down = false
    })
    fastify.decorate<RedisClient | null>('redis', redis)
    fastify.addHook('onClose', async () => {
      redis.disconnect()
    })
  },
  { fastify: '5.x', name: 'redis', dependencies: ['config'] },
)
