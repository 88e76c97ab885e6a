// Request and response shapes of the api-keys module.
import { Type, type Static } from '@sinclair/typebox'
import { defineList } from '../../src/lib/pagination.js'
import { UUID_PATTERN } from '../../src/lib/ids.js'

export const ScopeSchema = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('delete'), Type.Literal('admin')])

export const RateLimitSchema = Type.Object(
  {
    max: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Requests allowed per window' }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  },
  { additionalProperties: false, description: "This key's own rate limit (instead of the default)" },
)

export const ApiKeySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  ownerId: Type.String({ format: 'uuid' }),
  name: Type.Union([Type.String(), Type.Null()]),
  prefix: Type.String({ description: 'The public start of the key (keel_<prefix>_...), to recognise it' }),
  scopes: Type.Array(ScopeSchema),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  rateLimit: Type.Union([RateLimitSchema, Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Recorded at most once a minute' }),
  createdAt: Type.String({ format: 'date-time' }),
  rotatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  previousKeyValidUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'After a rotation, the old key works until then',
  }),
})
export type ApiKeyDto = Static<typeof ApiKeySchema>

export const ApiKeyWithSecretSchema = Type.Intersect([
  ApiKeySchema,
  Type.Object({ key: Type.String({ description: 'The key itself. Shown only in this response: store it now.' }) }),
])
export type ApiKeyWithSecret = Static<typeof ApiKeyWithSecretSchema>

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    scopes: Type.Optional(
      Type.Array(ScopeSchema, { minItems: 1, uniqueItems: true, description: "Defaults to all of the caller's permissions" }),
    ),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'Must be in the future' })),
    rateLimit: Type.Optional(RateLimitSchema),
  },
  { additionalProperties: false },
)
export type CreateApiKeyInput = Static<typeof CreateApiKeyBody>

export const ApiKeyParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'API key id (UUID)' }) })

export const apiKeyList = defineList({
  sort: { createdAt: 'timestamp', name: 'text', lastUsedAt: 'timestamp', expiresAt: 'timestamp' },
  defaultSort: '-createdAt',
  filters: {
    ownerId: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: "Admins only: another user's keys" })),
  },
})
