// Prometheus metrics at GET /metrics: request durations by route and status, cache hits/misses,
// rate-limit store failures, jobs by queue and state, job durations, queue lag, dead-lettered jobs,
// database connections in use, whether the database is up (and queries refused while it was not),
// and requests shed under overload. Values that live elsewhere (cache counters, pg-boss tables,
// pg_stat_activity) are read at scrape time, not on the hot path; the database reads at most once per
// METRICS_CACHE_MS, however often /metrics is asked. Served only to a scraper that sends
// METRICS_TOKEN when one is set, and not at all in production without one.
import { timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import client from 'prom-client'
import { publicRoute } from './auth.js'
import { errorResponses } from '../src/lib/envelope.js'
import { UnauthorizedError } from '../src/lib/errors.js'
import type { QueueStats } from './queue/index.js'

/** `fn`'s result, read again only once it is `ttlMs` old; concurrent callers share one read. */
export function cached<T>(ttlMs: number, fn: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined
  return () => {
    const now = performance.now()
    if (!last || now - last.at >= ttlMs) {
      const value = fn()
      last = { at: now, value }
      value.catch(() => (last = undefined)) // a failed read is not kept
    }
    return last.value
  }
}

export default fp(
  async (fastify) => {
    const { config } = fastify
    // In production /metrics is for a scraper only: without METRICS_TOKEN it is not served at all.
    if (config.NODE_ENV === 'production' && !config.METRICS_TOKEN) {
      fastify.log.warn('/metrics is off: set METRICS_TOKEN (NODE_ENV=production serves it only to a scraper that sends it)')
      return
    }
    const registry = new client.Registry()
    client.collectDefaultMetrics({ register: registry, prefix: 'keel_' })

    const duration = new client.Histogram({
      name: 'keel_http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    })
    fastify.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url
      if (route && route !== '/metrics')
        duration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
      done()
    })

    new client.Gauge({
      name: 'keel_cache_operations_total',
      help: 'Cache lookups by result (hit, miss, error) since start',
      labelNames: ['result'],
      registers: [registry],
      collect() {
        const stats = fastify.cache.stats()
        this.set({ result: 'hit' }, stats.hits)
        this.set({ result: 'miss' }, stats.misses)
        this.set({ result: 'error' }, stats.errors)
      },
    })

    new client.Gauge({
      name: 'keel_rate_limit_store_failures_total',
      help: 'Requests whose rate-limit check failed because Redis did, by outcome (let through = open, 503 = closed)',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        const stats = fastify.rateLimitStats()
        this.set({ outcome: 'open' }, stats.failedOpen)
        this.set({ outcome: 'closed' }, stats.failedClosed)
      },
    })

    new client.Gauge({
      name: 'keel_database_up',
      help: '1 while the database answers, 0 while it is known down (requests that need it answer 503 at once)',
      registers: [registry],
      collect() {
        this.set(fastify.dbStats().up ? 1 : 0)
      },
    })

    if (fastify.dbReplica())
      new client.Gauge({
        name: 'keel_db_replica_lag_seconds',
        help: 'How far the read replica replays behind the primary, in seconds, at its last check (0 when caught up)',
        registers: [registry],
        collect() {
          const lag = fastify.dbReplica()?.lagSeconds
          if (lag !== null && lag !== undefined) this.set(lag)
        },
      })

    new client.Gauge({
      name: 'keel_database_refused_total',
      help: 'Queries and transactions refused without reaching the database (known down, or no connection free in time), since start',
      registers: [registry],
      collect() {
        this.set(fastify.dbStats().refused)
      },
    })

    new client.Gauge({
      name: 'keel_requests_shed_total',
      help: 'Requests answered 503 because the process was overloaded (event-loop delay or heap past their limits), since start',
      registers: [registry],
      collect() {
        this.set(fastify.loadStats().shed)
      },
    })

    // What /metrics reads from the database, at most once per METRICS_CACHE_MS: a flood of scrapes
    // costs one aggregate over the job table per period, not one each.
    const fromDatabase = cached(config.METRICS_CACHE_MS, async () => {
      const [jobs, lag, connections] = await Promise.all([
        fastify.jobs.stats().catch((): QueueStats => ({})),
        fastify.jobs.lag().catch((): Record<string, number> => ({})),
        fastify.sql<{ state: string | null; count: number }[]>`
          select coalesce(state, 'unknown') as state, count(*)::int as count
          from pg_stat_activity where application_name = 'keel' and pid <> pg_backend_pid() group by 1`.catch(() => []),
      ])
      return { jobs, lag, connections }
    })

    const jobDuration = new client.Histogram({
      name: 'keel_job_duration_seconds',
      help: 'How long job handlers ran, by queue and outcome (completed, failed), in this process',
      labelNames: ['queue', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    })
    fastify.jobs.onSettled((queue, outcome, seconds) => jobDuration.observe({ queue, outcome }, seconds))

    new client.Gauge({
      name: 'keel_queue_lag_seconds',
      help: 'How long the oldest job ready to run has waited since it could have started, by queue (0: none waiting)',
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        this.reset()
        const { jobs, lag } = await fromDatabase()
        for (const queue of Object.keys(jobs)) this.set({ queue }, lag[queue] ?? 0)
      },
    })

    new client.Gauge({
      name: 'keel_jobs_dead_lettered',
      help: 'Jobs in dead-letter queues (failed past their retries) still in the job table, by dead-letter queue',
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        this.reset()
        const { jobs } = await fromDatabase()
        for (const queue of fastify.jobs.deadLetterQueues()) {
          const states = jobs[queue]
          if (states) this.set({ queue }, states.created + states.retry + states.active + states.completed + states.failed)
        }
      },
    })

    new client.Gauge({
      name: 'keel_jobs',
      help: 'Jobs by queue and state (pg-boss)',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset()
        try {
          for (const [queue, states] of Object.entries((await fromDatabase()).jobs)) {
            for (const [state, count] of Object.entries(states)) this.set({ queue, state }, count)
          }
        } catch {
          // queue unreachable: readiness reports it; metrics stay scrapeable
        }
      },
    })

    new client.Gauge({
      name: 'keel_db_connections',
      help: 'PostgreSQL connections of this application by state (pg_stat_activity), and the pool maximum',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        this.reset()
        this.set({ state: 'max' }, fastify.config.DB_POOL_MAX)
        try {
          for (const r of (await fromDatabase()).connections) this.set({ state: r.state ?? 'unknown' }, r.count)
        } catch {
          // database unreachable
        }
      },
    })

    // A scraper's token, compared in constant time; no token configured: anyone on the network.
    const token = config.METRICS_TOKEN ? Buffer.from(`Bearer ${config.METRICS_TOKEN}`) : undefined
    const isScraper = (authorization: string | undefined) => {
      if (!token) return true
      const given = Buffer.from(authorization ?? '')
      return given.length === token.length && timingSafeEqual(given, token)
    }

    fastify.get(
      '/metrics',
      {
        config: { rateLimit: false },
        onRequest: async (request) => {
          if (!isScraper(request.headers.authorization))
            throw new UnauthorizedError('/metrics needs the scraper token: Authorization: Bearer <METRICS_TOKEN>')
        },
        schema: {
          operationId: 'getMetrics',
          tags: ['health'],
          summary: 'Prometheus metrics',
          description:
            'For a Prometheus scraper: request durations by route and status, cache hits and misses, rate-limit store failures, ' +
            'jobs by queue and state, job durations, queue lag, dead-lettered jobs, database connections in use, and the Node.js ' +
            'process metrics (all prefixed `keel_`). When METRICS_TOKEN is set it answers only a scraper that sends it as a bearer ' +
            'token (401 otherwise); with NODE_ENV=production and no token it is not served. What it reads from the database is ' +
            'read at most once per METRICS_CACHE_MS.',
          security: publicRoute,
          produces: ['text/plain'],
          response: {
            200: {
              type: 'string',
              description: 'Prometheus text exposition format (version 0.0.4)',
              examples: [
                '# HELP keel_http_request_duration_seconds HTTP request duration by method, route and status code\n' +
                  '# TYPE keel_http_request_duration_seconds histogram\n' +
                  'keel_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/products",status_code="200"} 42\n',
              ],
            },
            ...errorResponses(401),
          },
        },
      },
      async (_request, reply) => {
        reply.type(registry.contentType)
        return registry.metrics()
      },
    )
  },
  { fastify: '5.x', name: 'metrics', dependencies: ['config', 'db', 'cache', 'rate-limit', 'queue', 'load-shedding'] },
)
