// API keys: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components),
// the list definition, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Id, Int, Nullable, SafeString, StringEnum, Timestamp } from '../../src/lib/schemas.js'
import { PERMISSIONS } from '../../src/lib/permissions.js'
import { CurrentPasswordSchema } from '../users/contract.js'

const Scope = StringEnum(PERMISSIONS, { description: 'A permission the key may use (never more than its owner has)' })
const Name = SafeString({ minLength: 1, maxLength: 100, description: 'A label to recognise the key by', examples: ['ci'] })

const RateLimit = Type.Object(
  {
    max: Int({ minimum: 1, maximum: 1_000_000, description: 'Requests allowed per window', examples: [100] }),
    windowSeconds: Int({ minimum: 1, maximum: 86_400, description: 'The window, in seconds', examples: [60] }),
  },
  {
    additionalProperties: false,
    description:
      "This key's own budget instead of the server default (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_SECONDS); never looser than that default, except for admins",
  },
)
export type RateLimit = Static<typeof RateLimit>

const example = {
  id: '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01',
  ownerId: '01936b8e-5a10-7c3d-8e2f-1a2b3c4d5e6f',
  name: 'ci',
  prefix: 'keel_3f9c2a1b7d4e6f80',
  scopes: ['read'],
  expiresAt: '2027-01-01T00:00:00.000Z',
  rateLimit: { max: 100, windowSeconds: 60 },
  lastUsedAt: '2026-11-29T11:02:31.250Z',
  version: 7,
  createdAt: '2026-11-29T10:15:00.000Z',
  rotatedAt: null,
  previousKeyValidUntil: null,
}

export const ApiKeySchema = Type.Object(
  {
    id: Id(),
    ownerId: Id('The user the key acts as'),
    name: Nullable(Name),
    prefix: Type.String({ description: 'The public start of the key (keel_<prefix>_...), to recognise it', examples: [example.prefix] }),
    scopes: Type.Array(Scope),
    expiresAt: Nullable(Timestamp('When the key stops working (null: never)')),
    rateLimit: Nullable(RateLimit),
    lastUsedAt: Nullable(Timestamp('Recorded at most once per API_KEY_LAST_USED_INTERVAL_SECONDS')),
    version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
    createdAt: Timestamp(),
    rotatedAt: Nullable(Timestamp()),
    previousKeyValidUntil: Nullable(Timestamp('After a rotation, the old key works until then')),
  },
  { $id: 'ApiKey', description: 'An API key (never the key itself, which is shown once)', examples: [example] },
)
export type ApiKey = Static<typeof ApiKeySchema>

/** What create and rotate answer: the key itself, this once. */
export const IssuedApiKeySchema = Type.Composite(
  [ApiKeySchema, Type.Object({ key: Type.String({ description: 'The key itself. Shown only in this response: store it now.' }) })],
  {
    $id: 'IssuedApiKey',
    description: 'A new or rotated API key, with the key itself (shown only this once)',
    examples: [{ ...example, key: `${example.prefix}_Jx3bQ9mV0tLr7WcYp2sKdA5nHf8gZe1uXo4iTy6vRqE` }],
  },
)
export type IssuedApiKey = Static<typeof IssuedApiKeySchema>

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.Optional(Name),
    scopes: Type.Optional(
      Type.Array(Scope, { minItems: 1, uniqueItems: true, description: "Defaults to all of the caller's permissions" }),
    ),
    expiresAt: Type.Optional(Timestamp('Must be in the future; defaults to never')),
    rateLimit: Type.Optional(RateLimit),
    currentPassword: CurrentPasswordSchema,
  },
  {
    $id: 'CreateApiKeyRequest',
    additionalProperties: false,
    description: 'A new key acting as you, narrowed to its scopes; `currentPassword` proves you are there (a key outlives the session)',
    examples: [
      {
        name: 'ci',
        scopes: ['read'],
        expiresAt: '2027-01-01T00:00:00.000Z',
        rateLimit: { max: 100, windowSeconds: 60 },
        currentPassword: 'Correct-Horse-9-Battery',
      },
    ],
  },
)
export type CreateApiKeyInput = Static<typeof CreateApiKeyBody>

export const ApiKeyParams = Type.Object({ id: Id('API key id') })

export const apiKeyList = defineList({
  sort: { createdAt: 'timestamp', name: 'text', lastUsedAt: 'timestamp', expiresAt: 'timestamp' },
  defaultSort: '-createdAt',
  filters: {
    ownerId: Type.Optional(Id("Admins only: another user's keys (default: yours)")),
  },
})
export type ApiKeyFilters = FiltersOf<typeof apiKeyList>

export const { response: ApiKeyResponse, page: ApiKeyPage } = envelopes(ApiKeySchema)
export const { response: IssuedApiKeyResponse } = envelopes(IssuedApiKeySchema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const apiKeySchemas = [ApiKeySchema, IssuedApiKeySchema, ApiKeyResponse, ApiKeyPage, IssuedApiKeyResponse, CreateApiKeyBody]
