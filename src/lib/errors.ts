// Typed HTTP errors: each carries `code` and `statusCode`, so one handler maps them all.
import createError, { type FastifyErrorConstructor } from '@fastify/error'

export interface ErrorDetail {
  field?: string
  message: string
  [key: string]: unknown
}

/** What the API documents for an error: its status, its code and a realistic message (the example). */
export interface ErrorSpec {
  status: number
  code: string
  message: string
}

/** An error class made by defineError: routes list it in `errorResponses(...)`, which documents it from `spec`. */
export interface ErrorDefinition {
  readonly spec: ErrorSpec
}

/**
 * Build an error class: `new X(message?)`, with `code` and `statusCode`; see withDetails for details.
 * The definition is also the documentation: `X.spec` (status, code and `example`, a realistic message
 * — the default message unless the thrown one carries values) is what `errorResponses(X)` puts in OpenAPI.
 */
export function defineError(code: string, statusCode: number, defaultMessage: string, example: string = defaultMessage) {
  const Base: FastifyErrorConstructor<{ code: string; statusCode: number }, [string]> = createError(code, '%s', statusCode)
  return class extends Base {
    static readonly spec: ErrorSpec = { status: statusCode, code, message: example }
    constructor(message: string = defaultMessage) {
      super(message)
    }
  }
}

export const ValidationError = defineError('VALIDATION_ERROR', 400, 'Validation failed')
export const UnauthorizedError = defineError('UNAUTHORIZED', 401, 'Authentication required')
export const ForbiddenError = defineError('FORBIDDEN', 403, 'You do not have permission to do this')
export const ConflictError = defineError('CONFLICT', 409, 'Conflict')
export const ServiceUnavailableError = defineError('SERVICE_UNAVAILABLE', 503, 'Service temporarily unavailable')

/** Attach per-field details to an error before throwing it. */
export function withDetails<E extends Error>(error: E, details: ErrorDetail[]): E & { details: ErrorDetail[] } {
  return Object.assign(error, { details })
}
