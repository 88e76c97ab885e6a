// HTTP for /api/v1/users: schemas in, service call, envelope out.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, Page, page, Success } from '../../src/lib/envelope.js'
import { IfMatchHeaders, IfNoneMatchHeaders, isNotModified } from '../../src/lib/conditional.js'
import { pageMeta } from '../../src/lib/pagination.js'
import { UpdateUserBody, userList, UserParams, UserSchema } from './schemas.js'
import type { UsersService } from './service.js'

const tags = ['users']
const security = authSecurity

export const usersRoutes: FastifyPluginAsyncTypebox<{ service: UsersService }> = async (app, { service }) => {
  app.get(
    '',
    {
      preHandler: app.requirePermission('admin'),
      schema: {
        tags,
        summary: 'List users (admins)',
        description: 'Filter by role, status and q (email or name); sort by createdAt, email, name, role, status.',
        security,
        querystring: userList.query,
        response: { 200: Page(UserSchema), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = userList.parse(request.query)
      const { items, total } = await service.list(filters, list)
      return page(items, pageMeta(list, total))
    },
  )

  app.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'A user (yourself, or anyone for admins)',
        description: "Another user's id answers 404 unless you are an admin. Carries an ETag; If-None-Match answers 304.",
        security,
        params: UserParams,
        headers: IfNoneMatchHeaders,
        response: { 200: Success(UserSchema), 304: Type.Null({ description: 'Not modified' }), ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      const { user, etag } = await service.get(request.user!, request.params.id)
      reply.header('etag', etag)
      if (isNotModified(request.headers['if-none-match'], etag)) return reply.code(304).send(null)
      return ok(user)
    },
  )

  app.patch(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Change a user (yourself, or anyone for admins; role and status: admins only)',
        description:
          'Changing your own password needs currentPassword. A new password or status=disabled signs the user out everywhere. If-Match makes it conditional (412 when stale).',
        security,
        params: UserParams,
        headers: IfMatchHeaders,
        body: UpdateUserBody,
        response: { 200: Success(UserSchema), ...errorResponses(401, 403, 404, 409, 412) },
      },
    },
    async (request, reply) => {
      const { user, etag } = await service.update(request.user!, request.params.id, request.body, request.headers['if-match'])
      return reply.header('etag', etag).send(ok(user))
    },
  )

  app.delete(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Delete a user (yourself, or anyone for admins)',
        security,
        params: UserParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
