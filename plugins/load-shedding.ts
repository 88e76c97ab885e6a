// Load shedding: while the process is overloaded (event-loop delay or heap past their limits from
// config, measured by @fastify/under-pressure) or shutting down, requests answer 503 in the error
// envelope with retry-after at once, instead of queueing behind the work the process cannot finish.
// Health and metrics stay answerable under load (probes and scrapers must see the truth); during
// shutdown everything answers 503 with `connection: close`, so clients retry on another instance.
import { getHeapStatistics } from 'node:v8'
import fp from 'fastify-plugin'
import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure'
import type { FastifyRequest } from 'fastify'
import { ServiceUnavailableError } from '../src/lib/errors.js'

export class OverloadedError extends ServiceUnavailableError {
  constructor(readonly retryAfterSeconds: number) {
    super(`The server is overloaded; retry in ${retryAfterSeconds} seconds`)
  }
}

export class ShuttingDownError extends ServiceUnavailableError {
  readonly retryAfterSeconds = 1
  constructor() {
    super('The server is shutting down; retry the request')
  }
}

export interface LoadStats {
  /** False for the first samples after start (start-up work would look like overload). */
  active: boolean
  /** Requests answered 503 because the process was overloaded, since start. */
  shed: number
  /** True while the last sample is past a limit. */
  overloaded: boolean
}

// under-pressure samples once a second; the samples that may cover start-up are ignored.
const SAMPLE_MS = 1000

declare module 'fastify' {
  interface FastifyInstance {
    loadStats(): LoadStats
    /** True once shutdown has begun: readiness answers 503 from then on. */
    draining(): boolean
  }
}

// Probes and scrapers are never shed: an overloaded instance must still say so.
const EXEMPT = /^\/(health|metrics)(\/|$)/
const exempt = (request: FastifyRequest) => EXEMPT.test(request.routeOptions.url ?? '')

export default fp(
  async (fastify) => {
    const { config } = fastify
    let closing = false
    let draining = false
    // Behind a load balancer: readiness answers 503 first (plugins/health.ts) while requests are
    // still served, so the balancer stops sending here before the server stops listening.
    fastify.addHook('preClose', async () => {
      draining = true
      if (config.SHUTDOWN_DRAIN_DELAY_MS > 0) {
        fastify.log.info({ delayMs: config.SHUTDOWN_DRAIN_DELAY_MS }, 'draining: readiness answers 503 before the server stops listening')
        await new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_DRAIN_DELAY_MS))
      }
      closing = true
    })
    fastify.decorate('draining', () => draining)
    // Requests that still arrive while draining (on kept-alive connections): Fastify's own 503 has
    // its own body (return503OnClosing is off in app.ts); this one is the envelope.
    // (Hooks on every request take a callback: an async hook costs promises on every request.)
    fastify.addHook('onRequest', (_request, reply, done) => {
      if (!closing) return done()
      reply.header('connection', 'close')
      done(new ShuttingDownError())
    })

    const stats = { shed: 0, overloaded: false }
    let activeFrom = Infinity
    fastify.addHook('onReady', async () => {
      activeFrom = Date.now() + 2 * SAMPLE_MS
    })
    const active = () => Date.now() >= activeFrom
    fastify.decorate('loadStats', () => ({ active: active(), shed: stats.shed, overloaded: fastify.isUnderPressure() }))
    const heapLimit = config.LOAD_SHED_MAX_HEAP_USED_MB
      ? config.LOAD_SHED_MAX_HEAP_USED_MB * 1024 * 1024
      : Math.floor(getHeapStatistics().heap_size_limit * 0.9)
    const retryAfter = config.LOAD_SHED_RETRY_AFTER_SECONDS

    await fastify.register(underPressure, {
      maxEventLoopDelay: config.LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: heapLimit,
      sampleInterval: SAMPLE_MS,
      retryAfter,
      // Returning an error makes the plugin send it (typed as void, but under-pressure sends any non-null result).
      pressureHandler: ((request: FastifyRequest, _reply: unknown, type: string, value: number | undefined) => {
        if (exempt(request) || !active()) return // (undefined: the request goes on)
        stats.shed++
        if (!stats.overloaded) {
          stats.overloaded = true // one warning per episode
          fastify.log.warn(
            {
              type,
              value: typeof value === 'number' ? Math.round(value) : value,
              limit: type === 'heapUsedBytes' ? heapLimit : config.LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS,
            },
            'overloaded: shedding load (503) until it passes',
          )
        }
        return new OverloadedError(retryAfter) // sent through the error handler: the envelope, with retry-after
      }) as unknown as FastifyUnderPressureOptions['pressureHandler'],
    })
    // The first request after an episode that is not shed ends it (logged once).
    fastify.addHook('onRequest', (_request, _reply, done) => {
      if (stats.overloaded && !fastify.isUnderPressure()) {
        stats.overloaded = false
        fastify.log.info({ shed: stats.shed }, 'load back to normal: no longer shedding')
      }
      done()
    })
  },
  { fastify: '5.x', name: 'load-shedding', dependencies: ['config', 'errors'] },
)
