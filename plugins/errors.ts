// The one error path: every error — thrown, validation, unknown route, 413, 415, 429, Postgres,
// 500 — leaves in the error envelope. A 5xx is logged with its stack and answers a generic message.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { ErrorDetail } from '../src/lib/errors.js'
import { errorBody, prefersProblemJson, PROBLEM_JSON, problemBody } from '../src/lib/envelope.js'

const codeByStatus: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_ENTITY',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  503: 'SERVICE_UNAVAILABLE',
}

// Connection-level failures: the database is down or unreachable, not a bug.
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'EHOSTUNREACH',
  'ENOTFOUND',
  '57P01',
  '57P03',
  '53300',
])

interface Mapped {
  status: number
  code: string
  message: string
  details: ErrorDetail[]
}

type AnyError = FastifyError & { details?: ErrorDetail[]; severity?: string; constraint_name?: string; detail?: string }

function mapValidation(error: FastifyError): Mapped {
  const context = error.validationContext
  const details = (error.validation ?? []).map((v) => {
    const missing = (v.params as { missingProperty?: string }).missingProperty
    const extra = (v.params as { additionalProperty?: string }).additionalProperty
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.')
    const field = [path, missing ?? extra].filter(Boolean).join('.') || context || 'request'
    const message = extra ? `unknown property '${extra}'` : missing ? 'is required' : (v.message ?? 'is invalid')
    return { field, message, ...(context ? { in: context } : {}) }
  })
  const summary = details.map((d) => `${d.field} ${d.message}`).join('; ')
  return { status: 400, code: 'VALIDATION_ERROR', message: `Validation failed: ${summary}`, details }
}

function mapPostgres(error: AnyError): Mapped | undefined {
  const pgCode = error.code
  if (!error.severity || typeof pgCode !== 'string') return undefined
  if (pgCode === '23505')
    return { status: 409, code: 'CONFLICT', message: 'A resource with the same unique value already exists', details: [] }
  if (pgCode === '23503')
    return { status: 409, code: 'CONFLICT', message: 'A referenced resource does not exist or is still referenced', details: [] }
  if (pgCode === '57014')
    return { status: 503, code: 'SERVICE_UNAVAILABLE', message: 'The database took too long to answer; try again', details: [] }
  if (pgCode === '40001' || pgCode === '40P01')
    return { status: 409, code: 'CONFLICT', message: 'Concurrent update; retry the request', details: [] }
  return undefined
}

export function mapError(error: AnyError): Mapped {
  if (error.validation) return mapValidation(error)
  const cause = (error.cause ?? undefined) as AnyError | undefined // drizzle wraps driver errors
  const pg = mapPostgres(error) ?? (cause ? mapPostgres(cause) : undefined)
  if (pg) return pg
  const connCode = String(error.code ?? cause?.code ?? '')
  if (unavailableCodes.has(connCode) || connCode.startsWith('08')) {
    return { status: 503, code: 'SERVICE_UNAVAILABLE', message: 'A required service is unavailable; try again shortly', details: [] }
  }
  const status = error.statusCode ?? 500
  if (status >= 500) {
    const code = status === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_ERROR'
    const message = status === 503 && /^[A-Z_]+$/.test(error.code ?? '') ? error.message : 'Internal server error'
    return { status: status === 503 ? 503 : 500, code, message, details: [] }
  }
  // Our own errors have plain UPPER_SNAKE codes; framework ones (FST_...) get the status's code.
  const own = typeof error.code === 'string' && /^[A-Z][A-Z_]*$/.test(error.code) && !error.code.startsWith('FST_')
  const code = own ? error.code : (codeByStatus[status] ?? 'BAD_REQUEST')
  return { status, code, message: error.message, details: error.details ?? [] }
}

export function sendError(request: FastifyRequest, reply: FastifyReply, mapped: Mapped) {
  const body = errorBody(mapped, String(request.id), mapped.details)
  if (prefersProblemJson(request.headers.accept)) {
    // Serialized here: the route's response schema for this status may only know the envelope.
    const problem = problemBody(mapped.status, body, request.url.split('?')[0]!)
    return reply.code(mapped.status).type(PROBLEM_JSON).send(JSON.stringify(problem))
  }
  return reply.code(mapped.status).type('application/json; charset=utf-8').send(body)
}

export default fp(
  async (fastify) => {
    fastify.setErrorHandler((error: AnyError, request, reply) => {
      const mapped = mapError(error)
      if (mapped.status >= 500) request.log.error({ err: error }, 'request failed')
      else request.log.info({ code: mapped.code, status: mapped.status, message: error.message }, 'request refused')
      return sendError(request, reply, mapped)
    })
    fastify.setNotFoundHandler((request, reply) =>
      sendError(request, reply, {
        status: 404,
        code: 'NOT_FOUND',
        message: `Route ${request.method} ${request.url.split('?')[0]} not found`,
        details: [],
      }),
    )
  },
  { fastify: '5.x', name: 'errors' },
)
