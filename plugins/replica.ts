// Read-your-writes on a read replica (DATABASE_READ_URL): after a successful write (a 2xx to a
// request other than GET, HEAD or OPTIONS) by a known caller, that caller is marked for
// DB_READ_YOUR_WRITES_SECONDS — in Redis, so every instance sees it (in-process without Redis, or
// while Redis fails). A marked caller's GET reads the primary (src/db/replica.ts), so it sees its
// own write however far the replica is behind. The mark is set before the answer leaves.
// Anonymous requests and requests without credentials cost nothing; one Redis GET otherwise.
import fp from 'fastify-plugin'
import { readFromPrimary, withReadRouting } from '../src/db/replica.js'

const READS = new Set(['GET', 'HEAD', 'OPTIONS'])

export default fp(
  async (fastify) => {
    const { config, redis } = fastify
    const seconds = config.DB_READ_YOUR_WRITES_SECONDS
    if (!config.DATABASE_READ_URL || seconds === 0) return
    const key = (userId: string) => `${config.REDIS_KEY_PREFIX}ryw:{${userId}}`
    const local = new Map<string, number>() // userId -> until (ms), without Redis or while it fails

    const mark = async (userId: string) => {
      local.set(userId, Date.now() + seconds * 1000)
      if (local.size > 10_000) for (const [id, until] of local) if (until < Date.now()) local.delete(id)
      if (redis) await redis.set(key(userId), '1', 'EX', seconds).catch(() => {})
    }
    const marked = async (userId: string) => {
      const until = local.get(userId)
      if (until && until > Date.now()) return true
      if (!redis) return false
      return (await redis.exists(key(userId)).catch(() => 0)) === 1
    }

    fastify.addHook('onRequest', (_request, _reply, done) => withReadRouting(done))
    fastify.addHook('preHandler', async (request) => {
      if (!READS.has(request.method)) return
      if (!request.headers.authorization && !request.headers['x-api-key']) return
      const user = await fastify.identify(request)
      if (user && (await marked(user.id))) readFromPrimary()
    })
    fastify.addHook('onSend', async (request, reply) => {
      if (READS.has(request.method) || !request.user || reply.statusCode < 200 || reply.statusCode >= 300) return
      await mark(request.user.id)
    })
  },
  { fastify: '5.x', name: 'replica', dependencies: ['config', 'db', 'redis', 'auth'] },
)
