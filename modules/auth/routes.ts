// Auth: HTTP only — schemas in, a service call, the envelope out. Responses that carry tokens are never stored by caches.
import { createHash } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { auditFor, authSecurity, publicRoute } from '../../plugins/auth.js'
import { byAddress, LoginRefusedError, tooMany } from '../../plugins/rate-limit/index.js'
import { errorResponses, ok } from '../../src/lib/envelope.js'
import { AccountDisabledError, InvalidCredentialsError, InvalidRefreshTokenError, SessionNotFoundError } from './errors.js'
import { EmailAlreadyVerifiedError, EmailTakenError, InvalidTokenError } from '../users/contract.js'
import { Ref } from '../../src/lib/schemas.js'
import { modulePath, resourcePath } from '../../src/lib/urls.js'
import { AcceptedResponse, UserResponse } from '../users/contract.js'
import type { AuthService, Caller } from './service.js'
import {
  EmailTokenBody,
  ForgotPasswordBody,
  LoginBody,
  LoginResultResponse,
  LogoutBody,
  MeResponse,
  RefreshBody,
  RegisterBody,
  ResetPasswordBody,
  SessionListResponse,
  SessionParams,
  TokensResponse,
} from './schemas.js'

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
  userAgent: request.headers['user-agent'],
})

export function authRoutes(fastify: FastifyInstance, service: AuthService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { config } = app

  // Emailed links: a budget per client address (the route's policy) and one per email address asked
  // for (the limiter's own store, keyed by a hash of the address), counted alike whether or not the
  // address has an account, so a 429 tells nothing about it either.
  const linkWindowMs = config.RATE_LIMIT_EMAIL_LINK_WINDOW_SECONDS * 1000
  const linkPolicy = { max: config.RATE_LIMIT_EMAIL_LINK_CLIENT_MAX, timeWindow: linkWindowMs, keyGenerator: byAddress }
  const perAddress = app.hasDecorator('createRateLimit')
    ? app.createRateLimit({
        namespace: 'email-links:address',
        max: config.RATE_LIMIT_EMAIL_LINK_MAX,
        timeWindow: linkWindowMs,
        keyGenerator: (request) => {
          const email = String((request.body as { email?: unknown } | undefined)?.email ?? '')
            .trim()
            .toLowerCase()
          return `email:${createHash('sha256').update(email).digest('base64url')}`
        },
      })
    : undefined
  const spendAddressBudget = async (request: FastifyRequest) => {
    const result = await perAddress?.(request)
    if (result && !result.isAllowed && result.isExceeded) throw tooMany(result.max, result.ttl)
  }

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

  app.post(
    '/verify-email',
    {
      schema: {
        operationId: 'verifyEmail',
        tags,
        summary: 'Verify your email address (the link sent at sign-up)',
        description:
          'Public. The `token` of the link emailed at sign-up (or by resend-verification): valid EMAIL_VERIFICATION_TTL_HOURS, once. ' +
          'The account is then `emailVerified`. A used, expired, voided (a newer link was sent, the email changed) or unknown token is ' +
          '400 INVALID_TOKEN, all alike.',
        security: publicRoute,
        body: Ref(EmailTokenBody),
        response: { 200: Ref(UserResponse), ...errorResponses(InvalidTokenError) },
      },
    },
    async (request) => ok(await service.verifyEmail(request.body.token, caller(request))),
  )

  app.post(
    '/resend-verification',
    {
      preHandler: app.authenticate,
      // Each caller (its account) has its own budget of links.
      config: { rateLimit: { max: config.RATE_LIMIT_EMAIL_LINK_MAX, timeWindow: linkWindowMs } },
      schema: {
        operationId: 'resendVerificationEmail',
        tags,
        summary: 'Send a new verification link to your email address',
        description:
          'A new single-use link to your address; the previous one stops working. 409 EMAIL_ALREADY_VERIFIED when there is nothing to verify. ' +
          'Limited to RATE_LIMIT_EMAIL_LINK_MAX (default 5) per account per RATE_LIMIT_EMAIL_LINK_WINDOW_SECONDS (an hour).',
        security: authSecurity,
        response: { 202: Ref(AcceptedResponse), ...errorResponses(401, EmailAlreadyVerifiedError, 429) },
      },
    },
    async (request, reply) => reply.code(202).send(ok(await service.resendVerification(request.user!))),
  )

  app.post(
    '/forgot-password',
    {
      config: { rateLimit: linkPolicy },
      preHandler: spendAddressBudget,
      schema: {
        operationId: 'forgotPassword',
        tags,
        summary: 'Ask for a password-reset link',
        description:
          'Public. Always 202 with the same body, in about the same time, whether or not the address has an account: the link (to ' +
          '`PUBLIC_URL/reset-password?token=...`, valid PASSWORD_RESET_TTL_MINUTES, once) is sent in the background to an active account ' +
          'at that address, and a newer link voids the previous one. Limited per client address (RATE_LIMIT_EMAIL_LINK_CLIENT_MAX, default 20) ' +
          'and per email address asked for (RATE_LIMIT_EMAIL_LINK_MAX, default 5), per RATE_LIMIT_EMAIL_LINK_WINDOW_SECONDS (an hour); ' +
          'both count every request alike.',
        security: publicRoute,
        body: Ref(ForgotPasswordBody),
        response: { 202: Ref(AcceptedResponse), ...errorResponses(429) },
      },
    },
    async (request, reply) => reply.code(202).send(ok(await service.forgotPassword(request.body.email, caller(request)))),
  )

  app.post(
    '/reset-password',
    {
      schema: {
        operationId: 'resetPassword',
        tags,
        summary: 'Set a new password with a reset link',
        description:
          'Public. The `token` of the reset link and the new password (the registration rules: 400 says why). The password is set, ' +
          'the address counts as verified, every session of the account ends (access and refresh tokens) and every other emailed link ' +
          'of the account stops working. A used, expired, voided or unknown token is 400 INVALID_TOKEN, all alike.',
        security: publicRoute,
        body: Ref(ResetPasswordBody),
        response: { 204: Type.Null({ description: 'The password is set; log in with it' }), ...errorResponses(InvalidTokenError) },
      },
    },
    async (request, reply) => {
      await service.resetPassword(request.body.token, request.body.password, caller(request))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/confirm-email-change',
    {
      schema: {
        operationId: 'confirmEmailChange',
        tags,
        summary: 'Confirm a new email address (the link sent to it)',
        description:
          'Public. The `token` of the link sent to the new address by `POST /users/{id}/email`. The account moves to that address ' +
          '(verified), every session ends (log in with the new address) and every other emailed link of the account stops working. ' +
          'A used, expired, voided or unknown token — or an address taken meanwhile — is 400 INVALID_TOKEN.',
        security: publicRoute,
        body: Ref(EmailTokenBody),
        response: { 200: Ref(UserResponse), ...errorResponses(InvalidTokenError) },
      },
    },
    async (request) => ok(await service.confirmEmailChange(request.body.token, caller(request))),
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
  app.get(
    '/sessions',
    {
      preHandler: app.requirePermission('read', { session: true }),
      schema: {
        operationId: 'listSessions',
        tags,
        summary: 'List your sessions',
        description:
          'Needs a bearer session (an API key gets 403). Your live sessions (not ended, not expired), the most recently used ' +
          'first, at most 100: when each was opened and last used (a login, a refresh or a request; recorded at most once per ' +
          'SESSION_LAST_USED_INTERVAL_SECONDS), from which client address and ' +
          'user agent, and which one is `current` (the session of the access token you sent). End one with DELETE /auth/sessions/{id}.',
        security: [{ bearerAuth: [] }],
        response: { 200: Ref(SessionListResponse), ...errorResponses(401, 403) },
      },
    },
    async (request) => ok(await service.listSessions(request.user!)),
  )

  app.delete(
    '/sessions/:id',
    {
      preHandler: app.requirePermission('read', { session: true }),
      schema: {
        operationId: 'endSession',
        tags,
        summary: 'End one of your sessions',
        description:
          'Needs a bearer session (an API key gets 403). Ends the session at once, everywhere: its refresh tokens are refused ' +
          'now and its access tokens at their next request on every instance. Ending your current session is a logout. ' +
          "Another user's session, an unknown one or one that already ended is a 404. Recorded in the audit trail (`auth.session.ended`).",
        security: [{ bearerAuth: [] }],
        params: SessionParams,
        response: { 204: Type.Null({ description: 'The session ended' }), ...errorResponses(401, 403, SessionNotFoundError) },
      },
    },
    async (request, reply) => {
      await service.endSession(request.user!, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
