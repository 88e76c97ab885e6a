// Liveness (/health) and readiness (/health/ready): database and queue are required (503 without
// them); a cache outage is "degraded" but still 200. Each check has a short timeout. Once shutdown
// begins readiness answers 503 whatever the checks say, so a load balancer drains this instance.
import fp from 'fastify-plugin'
import { Type, type Static } from '@sinclair/typebox'
import { Ref, StringEnum } from '../src/lib/schemas.js'
import { publicRoute } from './auth.js'

type CheckResult = 'ok' | 'down'

async function check(fn: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)
  })
  try {
    await Promise.race([fn(), timeout])
    return 'ok'
  } catch {
    return 'down'
  } finally {
    clearTimeout(timer)
  }
}

const Check = StringEnum(['ok', 'down'])

const Liveness = Type.Object(
  { status: Type.Literal('healthy') },
  { $id: 'Liveness', description: 'The process is up and serving', examples: [{ status: 'healthy' }] },
)

const Readiness = Type.Object(
  {
    status: StringEnum(['healthy', 'degraded', 'unhealthy'], {
      description:
        '`degraded`: the cache is down (reads go to the database), or the read replica is down or too far behind (reads go to the primary); `unhealthy`: the database or the queue is down, or the instance is shutting down',
    }),
    checks: Type.Object({
      database: Check,
      cache: StringEnum(['ok', 'down'], {
        description: '"ok" also when the in-process cache is used (no REDIS_URL)',
      }),
      queue: Check,
      replica: Type.Optional(
        StringEnum(['ok', 'down'], {
          description:
            'Only with a read replica (DATABASE_READ_URL): "down" while it does not answer or lags more than DB_REPLICA_MAX_LAG_SECONDS (reads go to the primary meanwhile)',
        }),
      ),
    }),
  },
  {
    $id: 'Readiness',
    description: 'Whether this instance can serve: each dependency checked with a short timeout',
    examples: [{ status: 'healthy', checks: { database: 'ok', cache: 'ok', queue: 'ok' } }],
  },
)

export default fp(
  async (fastify) => {
    const timeoutMs = fastify.config.HEALTH_CHECK_TIMEOUT_MS
    const routeConfig = { rateLimit: false }
    fastify.addSchema(Liveness)
    fastify.addSchema(Readiness)

    fastify.get(
      '/health',
      {
        config: routeConfig,
        schema: {
          operationId: 'getLiveness',
          tags: ['health'],
          summary: 'Liveness: the process is up',
          description:
            'Answers 200 while the process serves requests, without checking any dependency: restart the instance when it stops answering.',
          security: publicRoute,
          response: { 200: Ref(Liveness) },
        },
      },
      async () => ({ status: 'healthy' as const }),
    )

    fastify.get(
      '/health/ready',
      {
        config: routeConfig,
        schema: {
          operationId: 'getReadiness',
          tags: ['health'],
          summary: 'Readiness: database, cache and queue',
          description:
            '200 while the database and queue answer (a cache outage, or a read replica down or too far behind, is "degraded": reads bypass the cache, or go to the primary); 503 otherwise, so a load balancer sends traffic elsewhere until it recovers. From the start of a shutdown it answers 503 (`unhealthy`) while requests are still served for SHUTDOWN_DRAIN_DELAY_MS, so the balancer stops sending first.',
          security: publicRoute,
          response: {
            200: { ...Ref(Readiness), description: 'Ready: `healthy`, or `degraded` when only the cache or the read replica is down' },
            // Its own example at the media type (one beside a $ref would be dropped).
            503: Type.Unsafe<Static<typeof Readiness>>({
              description: 'Not ready: the database or the queue is down, or the instance is shutting down',
              content: {
                'application/json': {
                  schema: Ref(Readiness),
                  example: { status: 'unhealthy', checks: { database: 'down', cache: 'ok', queue: 'ok' } },
                },
              },
            }),
          },
        },
      },
      async (_request, reply) => {
        const redis = fastify.redis
        const [database, cache, queue] = await Promise.all([
          check(() => fastify.sql`select 1`, timeoutMs),
          redis ? check(() => redis.ping(), timeoutMs) : Promise.resolve<CheckResult>('ok'),
          check(() => fastify.jobs.boss.getDb().executeSql('select 1', []), timeoutMs),
        ])
        const state = fastify.dbReplica()
        const replica: CheckResult | undefined = state ? (state.serving ? 'ok' : 'down') : undefined
        const required = database === 'ok' && queue === 'ok' && !fastify.draining()
        const status = !required ? 'unhealthy' : cache === 'ok' && replica !== 'down' ? 'healthy' : 'degraded'
        return reply.code(required ? 200 : 503).send({ status, checks: { database, cache, queue, ...(replica ? { replica } : {}) } })
      },
    )
  },
  { fastify: '5.x', name: 'health', dependencies: ['config', 'load-shedding', 'db', 'redis', 'queue'] },
)
