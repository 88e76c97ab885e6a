// The wire envelope: shared TypeBox schemas (registered once by $id, so OpenAPI shows components),
// the named envelopes of each resource, and the helpers routes use to answer in them.
import { STATUS_CODES } from 'node:http'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import type { ErrorDefinition, ErrorSpec } from './errors.js'
import { Ref } from './schemas.js'

export const ErrorDetailSchema = Type.Object(
  {
    field: Type.Optional(Type.String({ description: 'The offending field, dotted (items.0.quantity)', examples: ['name'] })),
    message: Type.String({ examples: ['must NOT have fewer than 1 characters'] }),
    in: Type.Optional(Type.String({ description: 'Where the field is: body, querystring, params or headers', examples: ['body'] })),
  },
  { $id: 'ErrorDetail', additionalProperties: true, description: 'One problem with the request' },
)

export const ErrorResponseSchema = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.String({ description: 'Human-readable message' }),
    code: Type.String({ description: 'Machine-readable code, e.g. VALIDATION_ERROR' }),
    details: Type.Array(Ref(ErrorDetailSchema)),
    requestId: Type.String({ description: 'The x-request-id of this request (quote it when reporting a problem)' }),
  },
  { $id: 'ErrorResponse', description: 'Error envelope: every error, whatever its status, has this shape' },
)
export type ErrorResponse = Static<typeof ErrorResponseSchema>
type ErrorDetail = Static<typeof ErrorDetailSchema>

export const PageMetaSchema = Type.Object(
  {
    total: Type.Optional(Type.Integer({ minimum: 0, description: 'Matching rows (offset pagination)' })),
    page: Type.Integer({ minimum: 1 }),
    limit: Type.Integer({ minimum: 1, maximum: 100 }),
    offset: Type.Integer({ minimum: 0 }),
    nextCursor: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'Opaque cursor for the next page (cursor pagination); null on the last page',
      }),
    ),
  },
  { $id: 'PageMeta', description: 'Offset pages: total, page, limit, offset. Keyset pages: nextCursor instead of total' },
)
export type PageMeta = Static<typeof PageMetaSchema>

export const ProblemDetailsSchema = Type.Object(
  {
    type: Type.String({
      description: 'The problem type: `about:blank`, so the status (and `code`, precisely) says what went wrong',
      examples: ['about:blank'],
    }),
    title: Type.String({ description: 'The HTTP status phrase', examples: ['Not Found'] }),
    status: Type.Integer({ minimum: 400, maximum: 599, description: 'The HTTP status code', examples: [404] }),
    detail: Type.String({ description: "Human-readable message (the envelope's `error`)" }),
    instance: Type.String({ description: 'The request path', examples: ['/api/v1/products/01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01'] }),
    code: Type.String({ description: 'Machine-readable code, as in the envelope, e.g. VALIDATION_ERROR' }),
    requestId: Type.String({ description: 'The x-request-id of this request (quote it when reporting a problem)' }),
    errors: Type.Array(Ref(ErrorDetailSchema), { description: "One entry per problem with the request (the envelope's `details`)" }),
  },
  {
    $id: 'ProblemDetails',
    description:
      'RFC 9457 problem details: what a client that sends `Accept: application/problem+json` receives instead of the error envelope (same code and requestId)',
  },
)
export type ProblemDetails = Static<typeof ProblemDetailsSchema>

/** Schemas every app registers with addSchema, so `Ref` can point at them (ProblemDetails is only in the spec: see problemMedia). */
/** `{ success: true, data }` for a response schema that is not a resource's envelope (e.g. a list without paging). */
export const Success = <T extends TSchema>(data: T, description?: string) =>
  Type.Object({ success: Type.Literal(true), data }, { description })

export const sharedSchemas = [ErrorDetailSchema, ErrorResponseSchema, PageMetaSchema]

type Named = TSchema & { $id?: string }

/**
 * The named envelopes of a resource, for `addSchema` and `Ref`: `<Name>Response` is
 * `{success: true, data: <Name>}`; with a list item, `<Name>Page` is `{success: true, data: [item], meta}`.
 */
export function envelopes<R extends Named, I extends Named = R>(resource: R, listItem?: I) {
  const name = resource.$id
  if (!name) throw new Error('envelopes() needs a resource schema with an $id')
  const response = Type.Object({ success: Type.Literal(true), data: Ref(resource) }, { $id: `${name}Response`, description: `One ${name}` })
  const page = Type.Object(
    { success: Type.Literal(true), data: Type.Array(Ref(listItem ?? resource)), meta: Ref(PageMetaSchema) },
    { $id: `${name}Page`, description: `A page of ${name} items` },
  )
  return { response, page }
}

/**
 * What the server answers outside any module's rules — the error handler, the auth plugin, the
 * permission checks, the rate limiter: routes list these by status. A module's own errors are listed
 * by their definition (its errors.ts), never by status.
 */
const standardErrors = {
  400: {
    code: 'VALIDATION_ERROR',
    message: 'Validation failed: name must NOT have fewer than 1 characters',
    description: 'The request is invalid',
  },
  401: {
    code: 'UNAUTHORIZED',
    message: 'Authentication required: send a bearer access token or an X-API-Key',
    description: 'Missing or invalid credentials',
  },
  403: { code: 'FORBIDDEN', message: "This action needs the 'write' permission", description: 'Authenticated, but not allowed' },
  408: {
    code: 'REQUEST_TIMEOUT',
    message: 'The request took too long to arrive',
    description: 'The body did not arrive within REQUEST_TIMEOUT_MS',
  },
  413: { code: 'PAYLOAD_TOO_LARGE', message: 'Request body is too large', description: 'The body is larger than BODY_LIMIT_BYTES' },
  414: {
    code: 'URI_TOO_LONG',
    message: 'A path segment of the URL is too long',
    description: 'A path segment is longer than 100 characters',
  },
  415: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Unsupported Media Type: application/x-www-form-urlencoded',
    description: 'The body is not JSON (send Content-Type: application/json)',
  },
  429: { code: 'RATE_LIMITED', message: 'Rate limit exceeded, retry in 12 seconds', description: 'Too many requests (see retry-after)' },
  500: { code: 'INTERNAL_ERROR', message: 'Internal server error', description: 'Unexpected error (logged with the request id)' },
  503: {
    code: 'SERVICE_UNAVAILABLE',
    message: 'A required service is unavailable; try again shortly',
    description: 'A dependency is down (see retry-after)',
  },
} satisfies Record<number, Omit<ErrorSpec, 'status'> & { description: string }>

/** The statuses a route may list by number: see standardErrors. */
export type StandardStatus = keyof typeof standardErrors

/** What each status means, for a response's description (the codes it lists follow). */
const statusDescriptions: Record<number, string> = {
  ...Object.fromEntries(Object.entries(standardErrors).map(([status, { description }]) => [status, description])),
  404: 'Not found (or not yours to see)',
  409: 'Conflict with the current state',
  412: 'If-Match does not match the current version',
  422: 'Well-formed but semantically wrong',
}

const exampleRequestId = '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01'
const exampleDetails = (code: string) =>
  code === 'VALIDATION_ERROR' ? [{ field: 'name', message: 'must NOT have fewer than 1 characters', in: 'body' }] : []

/** The error envelope as the server sends it. */
export const errorBody = ({ code, message }: Omit<ErrorSpec, 'status'>, requestId: string, details: ErrorDetail[] = []): ErrorResponse => ({
  success: false,
  error: message,
  code,
  details,
  requestId,
})

/** The same error as RFC 9457 problem details (for `Accept: application/problem+json`). */
export const problemBody = (status: number, error: ErrorResponse, instance: string): ProblemDetails => ({
  type: 'about:blank',
  title: STATUS_CODES[status] ?? 'Error',
  status,
  detail: error.error,
  instance,
  code: error.code,
  requestId: error.requestId,
  errors: error.details,
})

export const PROBLEM_JSON = 'application/problem+json'

/**
 * Whether a request's Accept header asks for RFC 9457 problem details: it names
 * application/problem+json with a quality at least that of application/json (wildcards don't count,
 * so browsers and ordinary JSON clients keep the envelope).
 */
export function prefersProblemJson(accept: string | undefined): boolean {
  if (!accept) return false
  let problem = 0
  let json = 0
  for (const range of accept.toLowerCase().split(',')) {
    const [type = '', ...params] = range.split(';').map((p) => p.trim())
    const q = params.find((p) => p.startsWith('q='))
    const quality = q === undefined ? 1 : Number(q.slice(2))
    if (!(quality >= 0 && quality <= 1)) continue
    if (type === PROBLEM_JSON) problem = Math.max(problem, quality)
    else if (type === 'application/json') json = Math.max(json, quality)
  }
  return problem > 0 && problem >= json
}

type Example<T> = { summary?: string; value: T }

/** One named example per error, for the media type's `examples`: named by its code (CODE_2... when a code has several). */
const examplesFor = (list: Omit<ErrorSpec, 'status'>[]): Record<string, Example<ErrorResponse>> =>
  Object.fromEntries(
    list.map((spec, i) => {
      const same = list.slice(0, i).filter((e) => e.code === spec.code).length
      const name = same === 0 ? spec.code : `${spec.code}_${same + 1}`
      return [name, { summary: spec.message, value: errorBody(spec, exampleRequestId, exampleDetails(spec.code)) }]
    }),
  )

/**
 * The application/problem+json media type of an error response, its examples made from the
 * envelope's: plugins/swagger.ts adds it to the spec beside every ErrorResponse (the server writes
 * problem details itself, so route schemas only carry the envelope, and Fastify compiles one
 * serializer per error status instead of two).
 */
export function problemMedia(status: number, envelopeExamples: Record<string, Example<ErrorResponse>> = {}, instance = '/api/v1/products') {
  const examples = Object.fromEntries(
    Object.entries(envelopeExamples).map(([name, { summary, value }]) => [name, { summary, value: problemBody(status, value, instance) }]),
  )
  return { schema: { $ref: '#/components/schemas/ProblemDetails' }, ...(Object.keys(examples).length > 0 ? { examples } : {}) }
}

/**
 * Error responses for a route: 400, 500 and 503 always, plus those given — a status for the
 * standard answer of the server (401, 403, 429...: see standardErrors), or an error definition
 * (defineError, the module's errors.ts) for an error the route's code throws: its status, code and
 * example come from the definition itself (several per status are fine). Each is the ErrorResponse
 * envelope with one example per code (at the media type, where OpenAPI tools show it); the spec also
 * lists ProblemDetails for it (see problemMedia).
 */
export function errorResponses(...errors: Array<StandardStatus | ErrorDefinition>): Record<number, TSchema> {
  const byStatus = new Map<number, Omit<ErrorSpec, 'status'>[]>()
  const add = ({ status, code, message }: ErrorSpec) => {
    const list = byStatus.get(status) ?? []
    if (!list.some((e) => e.code === code && e.message === message)) list.push({ code, message })
    byStatus.set(status, list)
  }
  const standard = (status: StandardStatus): ErrorSpec => ({ status, ...standardErrors[status] })
  add(standard(400))
  for (const error of errors) add(typeof error === 'number' ? standard(error) : error.spec)
  add(standard(500))
  add(standard(503))
  const out: Record<number, TSchema> = {}
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const codes = [...new Set(list.map((e) => e.code))].join(', ')
    // @fastify/swagger copies `content` as it is, examples included (beside a $ref they were dropped).
    out[status] = Type.Unsafe<ErrorResponse>({
      description: `${statusDescriptions[status] ?? 'Error'} (${codes})`,
      content: {
        'application/json': { schema: Ref(ErrorResponseSchema), examples: examplesFor(list) },
      },
    })
  }
  return out
}

export const ok = <T>(data: T) => ({ success: true as const, data })
export const page = <T>(data: T[], meta: PageMeta) => ({ success: true as const, data, meta })
