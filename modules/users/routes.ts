// Users: HTTP only — schemas in, a service call, the envelope out. ETag, If-None-Match and If-Match live here.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity, SessionRequiredError } from '../../plugins/auth.js'
import { errorResponses, ok, page } from '../../src/lib/envelope.js'
import {
  EtagHeader,
  etagOf,
  IfMatchHeaders,
  IfNoneMatchHeaders,
  NotModifiedResponse,
  parseIfMatch,
  sendVersioned,
} from '../../src/lib/conditional.js'
import { LastAdminError, StaleUserError, UserNotFoundError } from './errors.js'
import { LoginRefusedError } from '../../plugins/rate-limit/index.js'
import { Ref } from '../../src/lib/schemas.js'
import type { UserService } from './service.js'
import { AcceptedResponse, ChangeEmailBody, UpdateUserBody, userList, UserPage, UserParams, UserResponse } from './schemas.js'

const tags = ['users']
const security = authSecurity

export function userRoutes(fastify: FastifyInstance, service: UserService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get(
    '',
    {
      preHandler: app.requirePermission('admin'),
      schema: {
        operationId: 'listUsers',
        tags,
        summary: 'List users',
        description:
          'Admins only. Filters: `role`, `status`, `q` (email or name contains, case-insensitive). ' +
          'Offset pages (`limit` with `offset` or `page`) carry `meta.total`; an empty `cursor` starts a keyset walk whose pages carry `meta.nextCursor` instead. ' +
          '`fields=id,email` returns (and selects) only those fields. Never a password hash.',
        security,
        querystring: userList.query,
        response: { 200: Ref(UserPage), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = userList.parse(request.query)
      const { items, meta } = await service.list(filters, list)
      return page(items, meta)
    },
  )

  app.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'getUser',
        tags,
        summary: 'Get a user',
        description:
          "Yourself, or anyone for admins: another user's id answers 404 (not 403), so accounts cannot be probed. " +
          'The ETag is the user version: send it back in If-None-Match for a 304 while it is current.',
        security,
        params: UserParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(UserResponse), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(401, UserNotFoundError),
        },
      },
    },
    async (request, reply) => sendVersioned(request, reply, await service.get(request.user!, request.params.id)),
  )

  app.patch(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'updateUser',
        tags,
        summary: 'Change some fields of a user',
        description:
          'Yourself, or anyone for admins; only admins change `role` and `status`. Only the fields sent are written. ' +
          'A new `password` needs a bearer session (an API key gets 403); your own new password needs `currentPassword` ' +
          '(a wrong one counts as a failed login: 429 once the budget is spent). A new password or `status: disabled` signs the user out everywhere ' +
          'and voids outstanding password-reset and email-change links. The email changes through `POST /users/{id}/email` (confirmed by the new address). ' +
          'The last active admin cannot be demoted or disabled (409 LAST_ADMIN). With If-Match, only the version you read is changed (412 when it moved on).',
        security,
        params: UserParams,
        headers: IfMatchHeaders,
        body: Ref(UpdateUserBody),
        response: {
          200: { ...Ref(UserResponse), headers: EtagHeader },
          ...errorResponses(401, 403, UserNotFoundError, LastAdminError, StaleUserError, LoginRefusedError),
        },
      },
    },
    async (request, reply) => {
      const user = await service.update(
        request.user!,
        request.params.id,
        request.body,
        parseIfMatch(request.headers['if-match']),
        request.ip,
      )
      reply.header('etag', etagOf(user.version))
      return ok(user)
    },
  )

  app.post(
    '/:id/email',
    {
      preHandler: app.requirePermission('write', { session: true }),
      schema: {
        operationId: 'changeUserEmail',
        tags,
        summary: 'Ask to change your email (the new address confirms it)',
        description:
          'Yours only, from a bearer session (an API key gets 403), with `currentPassword` (a wrong one counts as a failed login: 429 once the ' +
          'budget is spent). Nothing changes yet: the new address gets a single-use link (EMAIL_VERIFICATION_TTL_HOURS) to ' +
          '`PUBLIC_URL/confirm-email?token=...`, whose page posts it to `POST /auth/confirm-email-change`; the current address is told. ' +
          'The answer is 202 with the same body whether or not the new address already has an account (that address is told someone tried, ' +
          'and the change can never complete). Asking again voids the previous link.',
        security,
        params: UserParams,
        body: Ref(ChangeEmailBody),
        response: { 202: Ref(AcceptedResponse), ...errorResponses(401, SessionRequiredError, UserNotFoundError, LoginRefusedError) },
      },
    },
    async (request, reply) => {
      const accepted = await service.requestEmailChange(request.user!, request.params.id, request.body, request.ip)
      return reply.code(202).send(ok(accepted))
    },
  )

  app.delete(
    '/:id',
    {
      // Deleting an account takes every credential with it: a bearer session only, never an API key.
      preHandler: app.requirePermission('write', { session: true }),
      schema: {
        operationId: 'deleteUser',
        tags,
        summary: 'Delete a user',
        description:
          "Yourself, or anyone for admins (another user's id answers 404). Needs a bearer session (an API key gets 403). " +
          'Its sessions, API keys and webhooks go with it (`user.deleted`). The last active admin cannot be deleted (409 LAST_ADMIN).',
        security,
        params: UserParams,
        response: {
          204: Type.Null({ description: 'Deleted' }),
          ...errorResponses(401, SessionRequiredError, UserNotFoundError, LastAdminError),
        },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
