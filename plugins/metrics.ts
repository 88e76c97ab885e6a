// Prometheus metrics at GET /metrics: request durations by route and status, cache hits/misses,
// rate-limit store failures, jobs by queue and state, database connections in use, whether the
// database is up (and queries refused while it was not), and requests shed under overload. Values
// that live elsewhere (cache counters, pg-boss tables, pg_stat_activity) are read at scrape time,
// not on the hot path.
import fp from 'fastify-plugin'
import client from 'prom-client'
import { publicRoute } from './auth.js'

export default fp(
  async (fastify) => {
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

    new client.Gauge({
      name: 'keel_jobs',
      help: 'Jobs by queue and state (pg-boss)',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset()
        try {
          for (const [queue, states] of Object.entries(await fastify.jobs.stats())) {
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
          const rows = await fastify.sql<{ state: string | null; count: number }[]>`
            select coalesce(state, 'unknown') as state, count(*)::int as count
            from pg_stat_activity where application_name = 'keel' and pid <> pg_backend_pid() group by 1`
          for (const r of rows) this.set({ state: r.state ?? 'unknown' }, r.count)
        } catch {
          // database unreachable
        }
      },
    })

    fastify.get(
      '/metrics',
      {
        config: { rateLimit: false },
        schema: {
          operationId: 'getMetrics',
          tags: ['health'],
          summary: 'Prometheus metrics',
          description:
            'For a Prometheus scraper: request durations by route and status, cache hits and misses, rate-limit store failures, ' +
            'jobs by queue and state, database connections in use, and the Node.js process metrics (all prefixed `keel_`). ' +
            'Public: expose it only on a network your scraper is on.',
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
