// HTTP for /api/v1/auth: schemas in, service call, envelope out.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { auditFor, authSecurity } from '../../plugins/auth.js'
import { rateLimitPolicies } from '../../plugins/rate-limit/index.js'
import { errorResponses, ok, Success } from '../../src/lib/envelope.js'
import { UserSchema } from '../users/contract.js'
import { LoginBody, LoginResultSchema, LogoutBody, MeSchema, RefreshBody, RegisterBody, TokensSchema } from './schemas.js'
import type { AuthService } from './service.js'

const tags = ['auth']

export const authRoutes: FastifyPluginAsyncTypebox<{ service: AuthService }> = async (app, { service }) => {
  // Password guessing and sign-up floods: limited per IP and per email tried (RATE_LIMIT_AUTH_*).
  const config = { rateLimit: rateLimitPolicies.auth }

  app.post(
    '/register',
    {
      config,
      schema: {
        tags,
        summary: 'Create an account (role user)',
        description:
          'Password: at least 10 characters, at least two kinds (lowercase, uppercase, digits, symbols), not containing the email.',
        body: RegisterBody,
        response: { 201: Success(UserSchema), ...errorResponses(409) },
      },
    },
    async (request, reply) => {
      const user = await service.register(request.body, auditFor(request))
      return reply.code(201).header('location', `/api/v1/users/${user.id}`).send(ok(user))
    },
  )

  app.post(
    '/login',
    {
      config,
      schema: {
        tags,
        summary: 'Log in: an access token (short-lived JWT) and a refresh token',
        body: LoginBody,
        response: { 200: Success(LoginResultSchema), ...errorResponses(401, 403) },
      },
    },
    async (request) => ok(await service.login(request.body, auditFor(request))),
  )

  app.post(
    '/refresh',
    {
      schema: {
        tags,
        summary: 'Exchange a refresh token for new tokens (rotation)',
        description: 'Each refresh token works once. Using a spent one again revokes the whole session (its family): log in again.',
        body: RefreshBody,
        response: { 200: Success(TokensSchema), ...errorResponses(401) },
      },
    },
    async (request) => ok(await service.refresh(request.body.refreshToken, auditFor(request))),
  )

  app.post(
    '/logout',
    {
      preHandler: app.authenticate,
      // An empty body means "this session's access token only"; validate it as {}.
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: {
        tags,
        summary: 'Log out: revoke a refresh token, or everything with all=true',
        security: authSecurity,
        body: LogoutBody,
        response: { 204: Type.Null({ description: 'Logged out' }), ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      await service.logout(request.user!, request.body, auditFor(request))
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/me',
    {
      preHandler: app.authenticate,
      schema: {
        tags,
        summary: 'The calling user and its effective permissions',
        security: authSecurity,
        response: { 200: Success(MeSchema), ...errorResponses(401) },
      },
    },
    async (request) => ok(await service.me(request.user!)),
  )
}
