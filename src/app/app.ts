// buildApp(): the configured Fastify instance used by the server, the tests and the benchmarks.
// It only wires: shared plugins in dependency order, then every module folder (src/app/modules.ts).
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from '../lib/config.js'
import { registerModules } from './modules.js'
import configPlugin from '../../plugins/config.js'
import requestContext, { genReqId, loggerOptions } from '../../plugins/request-context.js'
import errors, { clientErrorHandler, frameworkErrors } from '../../plugins/errors.js'
import loadShedding from '../../plugins/load-shedding.js'
import security from '../../plugins/security.js'
import swagger from '../../plugins/swagger.js'
import db from '../../plugins/db.js'
import redis from '../../plugins/redis.js'
import cache from '../../plugins/cache.js'
import auth from '../../plugins/auth.js'
import replica from '../../plugins/replica.js'
import rateLimit from '../../plugins/rate-limit/index.js'
import deprecation from '../../plugins/deprecation.js'
import queue from '../../plugins/queue/index.js'
import events from '../../plugins/events.js'
import health from '../../plugins/health.js'
import metrics from '../../plugins/metrics.js'

export interface BuildOptions {
  config: Config
  /** Override the logger (tests pass false or a level). */
  logger?: FastifyServerOptions['logger']
  /** Build without touching the database (OpenAPI export). */
  offline?: boolean
}

function trustProxy(value: string): FastifyServerOptions['trustProxy'] {
  if (value === 'false' || value === '') return false
  if (value === 'true') return true
  return value.split(',').map((s) => s.trim())
}

export async function buildApp({ config, logger, offline = false }: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: logger ?? loggerOptions(config),
    genReqId,
    requestIdHeader: false,
    // One line per request is written by plugins/request-context.ts instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    trustProxy: trustProxy(config.TRUST_PROXY),
    // Collection routes are declared without a trailing slash (as the spec shows them); both spellings answer.
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', useDefaults: true, removeAdditional: false } },
    // Errors Fastify answers itself get the envelope too: a malformed URL or an overlong path
    // segment (frameworkErrors), a request Node's parser refuses (clientErrorHandler), a request
    // arriving while the server drains (plugins/load-shedding.ts answers it, not Fastify's own 503).
    frameworkErrors,
    clientErrorHandler,
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(configPlugin, { config })
  await app.register(requestContext)
  await app.register(errors)
  await app.register(loadShedding)
  await app.register(security)
  await app.register(swagger)
  await app.register(db, { offline })
  await app.register(redis)
  await app.register(cache)
  await app.register(auth)
  await app.register(replica)
  await app.register(rateLimit)
  // After every plugin that adds responses to a route's schema, so a deprecated route documents its headers on all of them.
  await app.register(deprecation)
  await app.register(queue, { offline })
  await app.register(events)
  await app.register(health)
  await app.register(metrics)

  // Every module folder: its events, contract, jobs and (except for a worker process) its routes.
  await registerModules(app, { routes: config.ROLE !== 'worker' })
  return app
}
