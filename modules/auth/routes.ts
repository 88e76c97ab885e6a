// Auth: HTTP only — schemas in, a service call, the envelope out. Responses that carry tokens are never stored by caches.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { auditFor, authSecurity, publicRoute } from '../../plugins/auth.js'
import { byAddress, LoginRefusedError } from '../../plugins/rate-limit/index.js'
import { errorResponses, ok } from '../../src/lib/envelope.js'
import { AccountDisabledError, InvalidCredentialsError, InvalidRefreshTokenError } from './errors.js'
import { EmailTakenError } from '../users/contract.js'
import { Ref } from '../../src/lib/schemas.js'
import { modulePath, resourcePath } from '../../src/lib/urls.js'
import { UserResponse } from '../users/contract.js'
import type { AuthService, Caller } from './service.js'
import { LoginBody, LoginResultResponse, LogoutBody, MeResponse, RefreshBody, RegisterBody, TokensResponse } from './schemas.js'

const tags = ['auth']

const noStore = { 'cache-control': Type.String({ description: 'Always `no-store`: the response carries secrets and is never cached' }) }
const deviceCookie = Type.String({
  description:
    '`keel_device=<token>; Path=/api/v1/auth/login; HttpOnly; SameSite=Strict` (and `Secure` in production): send it back on later ' +
    'logins (browsers do; other clients keep it, e.g. `curl -c jar -b jar`) and this client keeps its own failed-login budget on this account',
})

const caller = (request: FastifyRequest): Caller => ({
  audit: auditFor(request),
  ip: request.ip,
  device: request.server.loginFailures.deviceOf(request),
})

export function authRoutes(fastify: FastifyInstance, service: AuthService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { config } = app

  app.post(
    '/register',
    {
      // Sign-up floods: a budget per client address of its own (many colleagues behind one address still fit).
      config: {
        rateLimit: {
          max: config.RATE_LIMIT_REGISTER_MAX,
          timeWindow: config.RATE_LIMIT_REGISTER_WINDOW_SECONDS * 1000,
          keyGenerator: byAddress,
        },
      },
      schema: {
        operationId: 'registerAccount',
        tags,
        summary: 'Create an account',
        description:
          'Public. The account always gets the `user` role (a `role` property is a 400). Password: at least 10 characters, ' +
          'at least two kinds (lowercase, uppercase, digits, symbols), not containing the email, not a common one (400 says why). ' +
          'Limited to RATE_LIMIT_REGISTER_MAX (default 50) per client address per RATE_LIMIT_REGISTER_WINDOW_SECONDS (an hour). ' +
          'Answers 201 with the account and its Location; a welcome email follows (`user.registered`).',
        security: publicRoute,
        body: Ref(RegisterBody),
        response: {
          201: { ...Ref(UserResponse), headers: { location: Type.String({ description: 'The new account' }) } },
          ...errorResponses(EmailTakenError, 429),
        },
      },
    },
    async (request, reply) => {
      const user = await service.register(request.body, caller(request))
      reply.header('location', resourcePath(modulePath('users'), user.id))
      return reply.code(201).send(ok(user))
    },
  )

  app.post(
    '/login',
    {
      schema: {
        operationId: 'logIn',
        tags,
        summary: 'Log in',
        description:
          'Public. Opens a session: a short-lived access token (JWT naming the session) and a single-use refresh token. ' +
          'An unknown email and a wrong password give the same 401 in the same time. Failed attempts are limited per ' +
          'RATE_LIMIT_LOGIN_WINDOW_SECONDS (15 minutes): 10 per account per client, with a growing delay after 3 ' +
          '(RATE_LIMIT_LOGIN_CLIENT_ACCOUNT_MAX, RATE_LIMIT_LOGIN_DELAY_SECONDS); 100 per client address (RATE_LIMIT_LOGIN_CLIENT_MAX); ' +
          '100 per account from clients that never logged in to it (RATE_LIMIT_LOGIN_ACCOUNT_MAX). A success sets the `keel_device` ' +
          'cookie (HttpOnly, signed, bound to the account): sent back on later logins, that client keeps its own budget, so strangers ' +
          'failing on your account cannot lock you out. Successful logins do not count. Never cached (`Cache-Control: no-store`).',
        security: publicRoute,
        body: Ref(LoginBody),
        response: {
          200: { ...Ref(LoginResultResponse), headers: { ...noStore, 'set-cookie': deviceCookie } },
          ...errorResponses(InvalidCredentialsError, AccountDisabledError, LoginRefusedError),
        },
      },
    },
    async (request, reply) => {
      const { deviceToken, ...result } = await service.login(request.body, caller(request))
      if (deviceToken) reply.header('set-cookie', app.loginFailures.deviceCookie(deviceToken, request.routeOptions.url ?? request.url))
      reply.header('cache-control', 'no-store')
      return ok(result)
    },
  )

  app.post(
    '/refresh',
    {
      schema: {
        operationId: 'refreshTokens',
        tags,
        summary: 'Refresh the tokens of a session',
        description:
          'Public. Spends the refresh token for a new access token and the next refresh token of the same session. Each refresh token works once: ' +
          'presenting a spent one again ends the whole session (its refresh and access tokens): log in again. Never cached (`Cache-Control: no-store`).',
        security: publicRoute,
        body: Ref(RefreshBody),
        response: { 200: { ...Ref(TokensResponse), headers: noStore }, ...errorResponses(InvalidRefreshTokenError) },
      },
    },
    async (request, reply) => {
      const tokens = await service.refresh(request.body.refreshToken, caller(request))
      reply.header('cache-control', 'no-store')
      return ok(tokens)
    },
  )

  app.post(
    '/logout',
    {
      preHandler: app.requirePermission('read', { session: true }),
      // No body at all means "end this session"; validate it as {}.
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: {
        operationId: 'logOut',
        tags,
        summary: 'Log out',
        description:
          'Needs a bearer session (an API key gets 403). Ends the session of the access token you send: its refresh tokens and its ' +
          "access tokens stop working at once, on every instance. `refreshToken` also ends that token's session (if it is yours); " +
          '`all: true` ends every session of your account.',
        security: [{ bearerAuth: [] }],
        body: Ref(LogoutBody),
        response: { 204: Type.Null({ description: 'Logged out' }), ...errorResponses(401, 403) },
      },
    },
    async (request, reply) => {
      await service.logout(request.user!, request.body, caller(request))
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/me',
    {
      preHandler: app.authenticate,
      schema: {
        operationId: 'getMe',
        tags,
        summary: 'Who am I',
        description: 'The caller: its account, its effective permissions, and its session (bearer token) or API key.',
        security: authSecurity,
        response: { 200: Ref(MeResponse), ...errorResponses(401) },
      },
    },
    async (request) => ok(await service.me(request.user!)),
  )
}
