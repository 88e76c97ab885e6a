// Request id (a sane incoming x-request-id is honoured, else a UUIDv7), echoed on every response,
// and one structured log line per request. Exports the logger options and id generator used
// when the Fastify instance is created.
import { AsyncLocalStorage } from 'node:async_hooks'
import fp from 'fastify-plugin'
import type { FastifyRequest, FastifyServerOptions, RawRequestDefaultExpression } from 'fastify'
import { newId } from '../src/lib/ids.js'
import type { Config } from '../src/lib/config.js'
import { serializeError } from './errors.js'
import { traceLogFields, tracingOn } from '../src/lib/tracing.js'

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function genReqId(req: RawRequestDefaultExpression): string {
  const incoming = req.headers['x-request-id']
  return typeof incoming === 'string' && SANE_ID.test(incoming) ? incoming : newId()
}

export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  '*.key',
  '*.secret',
  '*.cardNumber',
  'body.password',
  'body.refreshToken',
]

export function loggerOptions(config: Pick<Config, 'LOG_LEVEL'>): FastifyServerOptions['logger'] {
  return {
    level: config.LOG_LEVEL,
    redact: { paths: redactPaths, censor: '[REDACTED]' },
    // Query errors without their parameters (emails, password hashes...).
    serializers: { err: serializeError },
    // With tracing on, every line written inside a span names it (trace_id, span_id): the request's
    // line carries its request id and its trace id together.
    ...(tracingOn() ? { mixin: traceLogFields } : {}),
  }
}

const store = new AsyncLocalStorage<{ requestId: string; request: FastifyRequest }>()

/**
 * The id of the request being handled, wherever the code runs (a service, a hook, a job sent from
 * it) — so the request id travels into job payloads and outgoing webhooks without being threaded
 * through every call. Undefined outside a request (jobs, scripts).
 */
export const currentRequestId = (): string | undefined => store.getStore()?.requestId

/** Who is behind the request being handled, as far as it is known yet (the audit trail records it). */
export interface RequestOrigin {
  requestId: string
  /** The client address (`request.ip`: the proxy's view when TRUST_PROXY is set). */
  clientAddress: string
  /** The authenticated caller, once authentication has run; null before and for anonymous requests. */
  userId: string | null
  apiKeyId: string | null
}

/** The request being handled, read at the moment of the call; undefined outside a request (jobs, scripts). */
export function currentOrigin(): RequestOrigin | undefined {
  const context = store.getStore()
  if (!context) return undefined
  const { request } = context
  return {
    requestId: context.requestId,
    clientAddress: request.ip,
    userId: request.user?.id ?? null,
    apiKeyId: request.user?.apiKeyId ?? null,
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Fields added to this request's closing log line (e.g. userId by the auth plugin). */
    logFields: Record<string, unknown>
  }
}

export default fp(
  async (fastify) => {
    fastify.decorateRequest('logFields', null as unknown as Record<string, unknown>)
    fastify.addHook('onRequest', (request, reply, done) => {
      request.logFields = {}
      reply.header('x-request-id', request.id)
      store.run({ requestId: String(request.id), request }, done)
    })
    fastify.addHook('onResponse', (request, reply, done) => {
      request.log.info(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          url: request.url,
          statusCode: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 100) / 100,
          ...request.logFields,
        },
        'request completed',
      )
      done()
    })
  },
  { fastify: '5.x', name: 'request-context' },
)
