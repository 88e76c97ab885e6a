// API keys: HTTP only — schemas in, a service call, the envelope out. Every route needs a bearer
// session: a key can neither manage keys nor see them.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { auditFor, authSecurity, SessionRequiredError } from '../../plugins/auth.js'
import { errorResponses, ok, page } from '../../src/lib/envelope.js'
import { EtagHeader, etagOf, IfNoneMatchHeaders, NotModifiedResponse, sendVersioned } from '../../src/lib/conditional.js'
import {
  ApiKeyLimitReachedError,
  ApiKeyNotFoundError,
  ExpiryNotAllowedError,
  RateLimitNotAllowedError,
  RotateOthersKeyError,
  ScopeNotAllowedError,
} from './errors.js'
import { LoginRefusedError } from '../../plugins/rate-limit/index.js'
import { EmailNotVerifiedError } from '../users/contract.js'
import { Ref } from '../../src/lib/schemas.js'
import { resourcePath } from '../../src/lib/urls.js'
import type { ApiKeyService, Issuer } from './service.js'
import { ApiKeyPage, ApiKeyParams, ApiKeyResponse, CreateApiKeyBody, IssuedApiKeyResponse, apiKeyList } from './schemas.js'

const tags = ['api-keys']
const security = authSecurity
const session = { session: true }

/** Who issues a key: the caller, and the API key it authenticated with (none for a session). */
const issuerOf = (request: FastifyRequest): Issuer => ({ principal: request.user!, key: request.apiKey })

/** A response carrying a secret: never stored by a browser or a proxy. */
const noStore = {
  'cache-control': Type.String({ enum: ['no-store'], description: 'The key is a secret: never stored by a browser or a proxy' }),
}

export function apiKeyRoutes(fastify: FastifyInstance, service: ApiKeyService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post(
    '',
    {
      preHandler: app.requirePermission('write', session),
      schema: {
        operationId: 'createApiKey',
        tags,
        summary: 'Create an API key (the key is shown once)',
        description:
          'Send it as `X-API-Key: <key>`: it acts as you, narrowed to its scopes (default: all your permissions); only its hash is stored. ' +
          'Needs a bearer session and `currentPassword` (a key outlives the session, so the person must be there, whatever the age of the ' +
          'access token; a wrong one counts as a failed login: 429 once the budget is spent), and a verified email when ' +
          'REQUIRE_VERIFIED_EMAIL_FOR names `api-keys` (the default; 403 EMAIL_NOT_VERIFIED). A key has no scope you lack, and its own `rateLimit` is never looser than the server default ' +
          '(RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_SECONDS: no bigger `max`, no faster rate) unless you are an admin. ' +
          'At most API_KEYS_MAX_PER_USER keys per user (409 past that). The answer is `Cache-Control: no-store`.',
        security,
        body: Ref(CreateApiKeyBody),
        response: {
          201: {
            ...Ref(IssuedApiKeyResponse),
            headers: { location: Type.String({ description: 'The new key' }), ...EtagHeader, ...noStore },
          },
          ...errorResponses(
            401,
            SessionRequiredError,
            ScopeNotAllowedError,
            RateLimitNotAllowedError,
            ExpiryNotAllowedError,
            EmailNotVerifiedError,
            ApiKeyLimitReachedError,
            LoginRefusedError,
          ),
        },
      },
    },
    async (request, reply) => {
      await app.users.confirmPresence(request.user!, request.body.currentPassword, request.ip, 'api-keys')
      const created = await service.create(issuerOf(request), request.body, auditFor(request))
      reply
        .header('cache-control', 'no-store')
        .header('location', resourcePath(app.prefix, created.id))
        .header('etag', etagOf(created.version))
      return reply.code(201).send(ok(created))
    },
  )

  app.get(
    '',
    {
      preHandler: app.requirePermission('read', session),
      schema: {
        operationId: 'listApiKeys',
        tags,
        summary: 'List your API keys',
        description:
          "Yours, or (admins) anyone's with `?ownerId=`. Never the keys themselves. Needs a bearer session: a key cannot list keys " +
          '(a leaked key must not tell its holder which other keys exist, with what scopes). Sortable by `createdAt`, `name`, `lastUsedAt`, `expiresAt`.',
        security,
        querystring: apiKeyList.query,
        response: { 200: Ref(ApiKeyPage), ...errorResponses(401, SessionRequiredError) },
      },
    },
    async (request) => {
      const { list, filters } = apiKeyList.parse(request.query)
      const { items, meta } = await service.list(request.user!, filters.ownerId, list)
      return page(items, meta)
    },
  )

  app.get(
    '/:id',
    {
      preHandler: app.requirePermission('read', session),
      schema: {
        operationId: 'getApiKey',
        tags,
        summary: 'Get an API key',
        description:
          "Its name, scopes, end, limit and last use; never the key itself. Yours (admins: anyone's); needs a bearer session. " +
          'The ETag is the key version: it moves when the key is rotated and when its `lastUsedAt` is recorded. ' +
          'Send it back in If-None-Match for a 304 while it is current.',
        security,
        params: ApiKeyParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(ApiKeyResponse), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(401, SessionRequiredError, ApiKeyNotFoundError),
        },
      },
    },
    async (request, reply) => sendVersioned(request, reply, await service.get(request.user!, request.params.id)),
  )

  app.post(
    '/:id/rotate',
    {
      preHandler: app.requirePermission('write', session),
      schema: {
        operationId: 'rotateApiKey',
        tags,
        summary: 'Rotate an API key: a new key (shown once); the old one works for a grace period',
        description:
          'Same id, new secret; the old key keeps working for API_KEY_GRACE_SECONDS (`previousKeyValidUntil`). Needs a bearer session. ' +
          "Only the key's owner rotates it: an admin rotating another user's key gets 403 (it would see the new secret and could act as " +
          'that user); admins may revoke it instead. ' +
          'The key is re-issued within your own bounds: scopes you no longer have are dropped, and a limit looser than the server default ' +
          'is brought down to it unless you are an admin. The answer is `Cache-Control: no-store` and carries the new ETag.',
        security,
        params: ApiKeyParams,
        response: {
          200: { ...Ref(IssuedApiKeyResponse), headers: { ...EtagHeader, ...noStore } },
          ...errorResponses(401, SessionRequiredError, RotateOthersKeyError, ApiKeyNotFoundError),
        },
      },
    },
    async (request, reply) => {
      const rotated = await service.rotate(issuerOf(request), request.params.id, auditFor(request))
      reply.header('cache-control', 'no-store').header('etag', etagOf(rotated.version))
      return ok(rotated)
    },
  )

  app.delete(
    '/:id',
    {
      preHandler: app.requirePermission('write', session),
      schema: {
        operationId: 'deleteApiKey',
        tags,
        summary: 'Revoke an API key',
        description: "It is refused from the next request on. Yours (admins: anyone's); needs a bearer session.",
        security,
        params: ApiKeyParams,
        response: { 204: Type.Null({ description: 'Revoked' }), ...errorResponses(401, SessionRequiredError, ApiKeyNotFoundError) },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id, auditFor(request))
      return reply.code(204).send(null)
    },
  )
}
