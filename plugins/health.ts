// Liveness (/health) and readiness (/health/ready): database and queue are required (503 without
// them); a cache outage is "degraded" but still 200. Each check has a short timeout.
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'

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

const Status = Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy')])
const Readiness = Type.Object({
  status: Status,
  checks: Type.Object({
    database: Type.Union([Type.Literal('ok'), Type.Literal('down')]),
    cache: Type.Union([Type.Literal('ok'), Type.Literal('down')], {
      description: '"ok" also when the in-process cache is used (no REDIS_URL)',
    }),
    queue: Type.Union([Type.Literal('ok'), Type.Literal('down')]),
  }),
})

export default fp(
  async (fastify) => {
    const timeoutMs = fastify.config.HEALTH_CHECK_TIMEOUT_MS
    const routeConfig = { rateLimit: false }

    fastify.get(
      '/health',
      {
        config: routeConfig,
        schema: {
          tags: ['health'],
          summary: 'Liveness: the process is up',
          response: { 200: Type.Object({ status: Type.Literal('healthy') }) },
        },
      },
      async () => ({ status: 'healthy' as const }),
    )

    fastify.get(
      '/health/ready',
      {
        config: routeConfig,
        schema: {
          tags: ['health'],
          summary: 'Readiness: database, cache and queue',
          description: '200 while the database and queue answer (a cache outage is "degraded"); 503 otherwise.',
          response: { 200: Readiness, 503: Readiness },
        },
      },
      async (_request, reply) => {
        const redis = fastify.redis
        const [database, cache, queue] = await Promise.all([
          check(() => fastify.sql`select 1`, timeoutMs),
          redis ? check(() => redis.ping(), timeoutMs) : Promise.resolve<CheckResult>('ok'),
          check(() => fastify.jobs.boss.getDb().executeSql('select 1', []), timeoutMs),
        ])
        const required = database === 'ok' && queue === 'ok'
        const status = !required ? 'unhealthy' : cache === 'ok' ? 'healthy' : 'degraded'
        return reply.code(required ? 200 : 503).send({ status, checks: { database, cache, queue } })
      },
    )
  },
  { fastify: '5.x', name: 'health', dependencies: ['config', 'db', 'redis', 'queue'] },
)
