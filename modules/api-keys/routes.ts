// HTTP for /api/v1/api-keys: schemas in, service call, envelope out.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { auditFor, authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, Page, page, Success } from '../../src/lib/envelope.js'
import { pageMeta } from '../../src/lib/pagination.js'
import { ApiKeyParams, ApiKeySchema, ApiKeyWithSecretSchema, CreateApiKeyBody, apiKeyList } from './schemas.js'
import type { ApiKeysService } from './service.js'

const tags = ['api-keys']
const security = authSecurity

export const apiKeysRoutes: FastifyPluginAsyncTypebox<{ service: ApiKeysService }> = async (app, { service }) => {
  app.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Create an API key (the key is shown once)',
        description:
          'Send it as `X-API-Key: <key>`. It acts as you, narrowed to its scopes (default: all your permissions). Only a hash is stored.',
        security,
        body: CreateApiKeyBody,
        response: { 201: Success(ApiKeyWithSecretSchema), ...errorResponses(401, 403) },
      },
    },
    async (request, reply) => {
      const created = await service.create(request.user!, request.body, auditFor(request))
      return reply.code(201).header('location', `/api/v1/api-keys/${created.id}`).send(ok(created))
    },
  )

  app.get(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'Your API keys (admins: ?ownerId= for anyone)',
        security,
        querystring: apiKeyList.query,
        response: { 200: Page(ApiKeySchema), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = apiKeyList.parse(request.query)
      const { items, total } = await service.list(request.user!, filters.ownerId, list)
      return page(items, pageMeta(list, total))
    },
  )

  app.post(
    '/:id/rotate',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Rotate a key: a new key (shown once); the old one keeps working for a grace period',
        security,
        params: ApiKeyParams,
        response: { 200: Success(ApiKeyWithSecretSchema), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ok(await service.rotate(request.user!, request.params.id, auditFor(request))),
  )

  app.delete(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Revoke a key (it stops working at once)',
        security,
        params: ApiKeyParams,
        response: { 204: Type.Null({ description: 'Revoked' }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id, auditFor(request))
      return reply.code(204).send(null)
    },
  )
}
