// The one error path: every error — thrown, validation, unknown route, bad URL, 413, 415, 429,
// Postgres, 503 (a dependency down, load shedding, shutdown), 500 — leaves in the error envelope.
// A 5xx is logged with its stack and answers a generic message. Query errors are logged without
// the query's parameters (they hold emails, password hashes...): see serializeError.
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DrizzleQueryError } from 'drizzle-orm/errors'
import { ServiceUnavailableError, type ErrorDetail } from '../src/lib/errors.js'
import { errorBody, prefersProblemJson, PROBLEM_JSON, problemBody, type ErrorResponse } from '../src/lib/envelope.js'
import { newId } from '../src/lib/ids.js'

const codeByStatus: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_ENTITY',
  429: 'RATE_LIMITED',
  431: 'HEADERS_TOO_LARGE',
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
  '57P02',
  '57P03',
  '53300',
])

interface Mapped {
  status: number
  code: string
  message: string
  details: ErrorDetail[]
  /** Seconds, sent as retry-after (every 503 has one). */
  retryAfter?: number
}

type AnyError = FastifyError & {
  details?: ErrorDetail[]
  severity?: string
  retryAfterSeconds?: number
}

const unavailable = (message: string, retryAfter = 1): Mapped => ({
  status: 503,
  code: 'SERVICE_UNAVAILABLE',
  message,
  details: [],
  retryAfter,
})

function mapValidation(error: FastifyError): Mapped {
  const context = error.validationContext
  const details = (error.validation ?? []).map((v) => {
    const missing = (v.params as { missingProperty?: string }).missingProperty
    const extra = (v.params as { additionalProperty?: string }).additionalProperty
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.')
    const field = [path, missing ?? extra].filter(Boolean).join('.') || context || 'request'
    const allowed = v.keyword === 'enum' ? (v.params as { allowedValues?: unknown[] }).allowedValues : undefined
    const message = extra
      ? `unknown property '${extra}'`
      : missing
        ? 'is required'
        : allowed
          ? `must be one of: ${allowed.join(', ')}`
          : (v.message ?? 'is invalid')
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
  if (pgCode === '57014') return unavailable('The database took too long to answer; try again')
  if (pgCode === '40001' || pgCode === '40P01')
    return { status: 409, code: 'CONFLICT', message: 'Concurrent update; retry the request', details: [] }
  // Class 22, data exception: a value the column refuses (bad text for its type, out of range, a NUL
  // byte...). The input got past the schemas, so it is the client's value: 400, no SQL text out.
  if (pgCode.startsWith('22') && pgCode !== '22012') {
    return {
      status: 400,
      code: 'VALIDATION_ERROR',
      message: 'Validation failed: a value is not valid for its field (wrong type, out of range, or a character that is not allowed)',
      details: [{ message: 'a value is not valid for its field' }],
    }
  }
  return undefined
}

/** Drizzle wraps every driver error (its message carries the SQL and its parameters): the driver's error is the cause. */
const unwrap = (error: AnyError): AnyError => (error instanceof DrizzleQueryError && error.cause ? (error.cause as AnyError) : error)

export function mapError(thrown: AnyError): Mapped {
  if (thrown.validation) return mapValidation(thrown)
  const error = unwrap(thrown)
  const cause = (error.cause ?? undefined) as AnyError | undefined
  const pg = mapPostgres(error) ?? (cause ? mapPostgres(cause) : undefined)
  if (pg) return pg
  const connCode = String(error.code ?? cause?.code ?? '')
  if (unavailableCodes.has(connCode) || connCode.startsWith('08')) {
    return unavailable('A required service is unavailable; try again shortly')
  }
  const status = error.statusCode ?? 500
  if (status >= 500) {
    if (status !== 503) return { status: 500, code: 'INTERNAL_ERROR', message: 'Internal server error', details: [] }
    // Our own 503s (UPPER_SNAKE codes) say which service; anything else stays generic.
    const own = /^[A-Z_]+$/.test(error.code ?? '') && !String(error.code).startsWith('FST_')
    return unavailable(own ? error.message : 'Service temporarily unavailable; try again shortly', error.retryAfterSeconds)
  }
  // Our own errors have plain UPPER_SNAKE codes; framework ones (FST_...) get the status's code.
  const own = typeof error.code === 'string' && /^[A-Z][A-Z_]*$/.test(error.code) && !error.code.startsWith('FST_')
  const code = own ? error.code : (codeByStatus[status] ?? 'BAD_REQUEST')
  return { status, code, message: error.message, details: error.details ?? [] }
}

export function sendError(request: FastifyRequest, reply: FastifyReply, mapped: Mapped) {
  const body = errorBody(mapped, String(request.id), mapped.details)
  if (mapped.retryAfter !== undefined) reply.header('retry-after', String(mapped.retryAfter))
  if (prefersProblemJson(request.headers.accept)) {
    // Serialized here: the route's response schema for this status may only know the envelope.
    const problem = problemBody(mapped.status, body, request.url.split('?')[0]!)
    return reply.code(mapped.status).type(PROBLEM_JSON).send(JSON.stringify(problem))
  }
  return reply.code(mapped.status).type('application/json; charset=utf-8').send(body)
}

// ---- logging without query parameters ----

const SAFE_DB_FIELDS = ['code', 'severity', 'routine', 'schema_name', 'table_name', 'column_name', 'constraint_name'] as const

const stackFrames = (stack: unknown) =>
  typeof stack === 'string'
    ? stack
        .split('\n')
        .filter((line) => /^\s+at /.test(line))
        .join('\n')
    : ''

/**
 * pino's `err` serializer for Keel's logger. Errors of a query (Drizzle's, whose message and
 * `params` carry the parameters, and the driver's, whose `detail` quotes values) are logged as the
 * SQL text, the driver's code and message and the stack frames: never the values. Others as pino does.
 */
export interface SerializedError {
  type: string
  message: string
  stack: string
  [key: string]: unknown
}

export function serializeError(err: Error): SerializedError {
  const e = err as Error & Record<string, unknown>
  const cause = e.cause instanceof Error ? serializeError(e.cause) : e.cause
  const database = err instanceof DrizzleQueryError || (typeof e.severity === 'string' && typeof e.code === 'string')
  const type = err.constructor?.name ?? 'Error'
  if (!database) {
    const out: SerializedError = { type, message: err.message, stack: err.stack ?? '' }
    for (const [key, value] of Object.entries(e)) if (!(key in out)) out[key] = value
    if (cause !== undefined) out.cause = cause
    return out
  }
  const message = err instanceof DrizzleQueryError ? `Failed query: ${err.query}` : err.message
  const out: SerializedError = { type, message, stack: `${err.name}: ${message}\n${stackFrames(err.stack)}` }
  for (const field of SAFE_DB_FIELDS) if (e[field] !== undefined) out[field] = e[field]
  if (cause !== undefined) out.cause = cause
  return out
}

/** The error's message for a log line, without query parameters. */
const logMessage = (error: Error) => (error instanceof DrizzleQueryError ? `Failed query: ${error.query}` : error.message)

// ---- errors Fastify answers before any hook runs ----

/**
 * Fastify's `frameworkErrors` option: a malformed URL (bad percent-encoding) or a path parameter
 * longer than the router's maxParamLength, answered in the envelope instead of Fastify's own body.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', request.id)
  const mapped: Mapped =
    error.code === 'FST_ERR_BAD_URL'
      ? { status: 400, code: 'BAD_REQUEST', message: 'The URL is malformed (invalid percent-encoding)', details: [] }
      : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? { status: 414, code: 'URI_TOO_LONG', message: 'A path segment of the URL is too long', details: [] }
        : mapError(error as AnyError)
  request.log.info({ code: mapped.code, status: mapped.status, url: request.url.slice(0, 200) }, 'request refused')
  return sendError(request, reply, mapped)
}

const clientErrors: Record<string, { status: number; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
  HPE_HEADER_OVERFLOW: { status: 431, message: 'The request line and headers are too large' },
}

/**
 * Fastify's `clientErrorHandler` option: a request Node's HTTP parser refused (headers or URL too
 * large, malformed HTTP, too slow) never reaches Fastify; it still gets the envelope, then the
 * connection is closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const known = clientErrors[err.code ?? '']
  const status = known?.status ?? 400
  const requestId = newId()
  const body = JSON.stringify({
    success: false,
    error: known?.message ?? 'The request is malformed',
    code: codeByStatus[status] ?? 'BAD_REQUEST',
    details: [],
    requestId,
  } satisfies ErrorResponse)
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(err)
}

export default fp(
  async (fastify) => {
    fastify.setErrorHandler((error: AnyError, request, reply) => {
      const mapped = mapError(error)
      // A 503 Keel decided (a dependency known down, overload) was logged once for the outage; one
      // from an unexpected connection error is a warning; anything else 5xx is a bug, with its stack.
      const decided = unwrap(error) instanceof ServiceUnavailableError
      if (mapped.status >= 500 && !decided) {
        if (mapped.status === 503) request.log.warn({ err: error }, 'request failed: a service is unavailable')
        else request.log.error({ err: error }, 'request failed')
      } else request.log.info({ code: mapped.code, status: mapped.status, message: logMessage(error) }, 'request refused')
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
