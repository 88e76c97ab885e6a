// The wire envelope: shared TypeBox schemas (registered once by $id, so OpenAPI shows components)
// and the helpers routes use to answer in it.
import { Type, type Static, type TSchema } from '@sinclair/typebox'

export const ErrorDetailSchema = Type.Object(
  { field: Type.Optional(Type.String()), message: Type.String() },
  { $id: 'ErrorDetail', additionalProperties: true },
)

export const ErrorResponseSchema = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.String({ description: 'Human-readable message' }),
    code: Type.String({ description: 'Machine-readable code, e.g. VALIDATION_ERROR', examples: ['NOT_FOUND'] }),
    details: Type.Array(Type.Ref(ErrorDetailSchema)),
    requestId: Type.String(),
  },
  { $id: 'ErrorResponse', description: 'Error envelope' },
)
export type ErrorResponse = Static<typeof ErrorResponseSchema>

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
  { $id: 'PageMeta' },
)
export type PageMeta = Static<typeof PageMetaSchema>

/** Schemas every app registers with addSchema, so `Type.Ref` can point at them. */
export const sharedSchemas = [ErrorDetailSchema, ErrorResponseSchema, PageMetaSchema]

/** `{ success: true, data }` for a response schema. */
export const Success = <T extends TSchema>(data: T, description?: string) =>
  Type.Object({ success: Type.Literal(true), data }, { description })

/** `{ success: true, data: [...], meta }` for a list response schema. */
export const Page = <T extends TSchema>(item: T, description?: string) =>
  Type.Object({ success: Type.Literal(true), data: Type.Array(item), meta: Type.Ref(PageMetaSchema) }, { description })

const ErrorRef = Type.Ref(ErrorResponseSchema)
const errorText: Record<number, string> = {
  400: 'Validation failed (VALIDATION_ERROR)',
  401: 'Missing or invalid credentials (UNAUTHORIZED)',
  403: 'Authenticated but not allowed (FORBIDDEN)',
  404: 'Not found (NOT_FOUND)',
  409: 'Conflict with the current state',
  412: 'If-Match did not match the current version (PRECONDITION_FAILED)',
  422: 'Well-formed but semantically wrong (UNPROCESSABLE_ENTITY)',
  429: 'Too many requests (RATE_LIMITED)',
  503: 'A dependency is unavailable (SERVICE_UNAVAILABLE)',
}

/** Error response schemas for a route: 400 and 500 always, plus the given codes. */
export function errorResponses(...codes: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {}
  for (const code of [400, ...codes, 500]) {
    out[code] = Type.Unsafe<ErrorResponse>({ ...ErrorRef, description: errorText[code] ?? 'Internal error (INTERNAL_ERROR)' })
  }
  return out
}

export const ok = <T>(data: T) => ({ success: true as const, data })
export const page = <T>(data: T[], meta: PageMeta) => ({ success: true as const, data, meta })
