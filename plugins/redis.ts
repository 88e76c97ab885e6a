// Redis (ioredis), when REDIS_URL is set: short timeouts and no offline queue, so a slow or
// stopped Redis fails fast and callers fall back; reconnects by itself. `fastify.redis` is null without it.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | null
  }
}

export default fp(
  async (fastify) => {
    const { REDIS_URL, REDIS_KEY_PREFIX, REDIS_COMMAND_TIMEOUT_MS } = fastify.config
    if (!REDIS_URL) {
      fastify.decorate('redis', null)
      return
    }
    const redis = new Redis(REDIS_URL, {
      keyPrefix: REDIS_KEY_PREFIX,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      connectTimeout: Math.max(1000, REDIS_COMMAND_TIMEOUT_MS * 4),
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    })
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
    fastify.decorate('redis', redis)
    fastify.addHook('onClose', async () => {
      redis.disconnect()
    })
  },
  { fastify: '5.x', name: 'redis', dependencies: ['config'] },
)
