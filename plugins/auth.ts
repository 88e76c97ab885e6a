// Authentication: JWT access tokens (HS256 pinned, issuer/audience checked) and API keys
// (`X-API-Key`). This plugin checks the credential's form and signature; whether it still stands
// (the user active, the session open, the key unrevoked) is asked of the identity modules, which hand
// it their resolvers with `app.credentials.use(...)` — no plugin imports a module. Decorates
// `authenticate`, `authenticateOptional`, `identify` (public routes), `requirePermission(perm)`,
// `signAccessToken`, `request.user`.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { can, type Permission, type Principal, type Role } from '../src/lib/permissions.js'
import { defineError, ForbiddenError, UnauthorizedError } from '../src/lib/errors.js'
import { projectRoot } from '../src/lib/paths.js'
import type { Config } from '../src/lib/config.js'

/** The claims of an access token (iss, aud, iat and exp are added by the signer; all are required by the verifier). */
export interface AccessClaims {
  sub: string
  role: Role
  /** The user's token version when the token was issued; a bump invalidates the token. */
  ver: number
  /** The session (refresh family) the token belongs to: ending it invalidates the token. */
  sid: string
}

/** The HTTP header an API key is sent in. */
export const API_KEY_HEADER = 'x-api-key'

/** `requirePermission(p, { session: true })` refused an API key: routes that ask for a session list it. */
export const SessionRequiredError = defineError('FORBIDDEN', 403, 'This needs a bearer session (log in); an API key cannot do it')

/** An API key the caller authenticated with, as the rate limiter and the routes see it. */
export interface ApiKeyIdentity {
  id: string
  ownerId: string
  scopes: Permission[]
  /** The key's own limit (null: the server default). */
  rateLimit: { max: number; windowSeconds: number } | null
  expiresAt: Date | null
}

/** How the identity modules tell whether a credential still stands (registered with `app.credentials.use`). */
export interface CredentialResolvers {
  /** Verified access-token claims → the caller, or null when the user or the session is no longer valid. */
  accessToken(claims: AccessClaims): Promise<Principal | null>
  /** An X-API-Key value → the caller (the owner, narrowed by the key's scopes) and the key, or null. */
  apiKey(key: string): Promise<{ principal: Principal; key: ApiKeyIdentity } | null>
}

export type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>
/** An audit event line (`event` plus fields); never pass secrets. */
export type Audit = (event: string, fields?: Record<string, unknown>) => void

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims
    user: Principal | null
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: 401 unless a valid bearer token or API key is sent; sets request.user. */
    authenticate: AuthHook
    /** preHandler: sets request.user when credentials are sent (401 if they are invalid), else null. */
    authenticateOptional: AuthHook
    /**
     * For a route that does not authenticate (a public one): the caller, when the credentials sent
     * stand (request.user and request.apiKey are set as by authenticateOptional), else null. Never a
     * 401: a public route answers everyone alike, so invalid credentials leave the caller anonymous.
     */
    identify: (request: FastifyRequest) => Promise<Principal | null>
    /**
     * preHandler factory: authenticates, then 403 unless the caller has the permission. With
     * `{ session: true }`, only a bearer session will do (an API key is refused): managing keys,
     * signing out everywhere and changing credentials.
     */
    requirePermission: (permission: Permission, options?: { session?: boolean }) => AuthHook
    /** A signed access token for the user in a session, and its lifetime in seconds. */
    signAccessToken: (
      user: { id: string; role: Role; tokenVersion: number },
      sessionId: string,
    ) => { accessToken: string; expiresIn: number }
    /** Where the identity modules register their credential resolvers (one per kind). */
    credentials: { use(resolvers: Partial<CredentialResolvers>): void }
    /** Milliseconds since the epoch; tests replace `clock.now` to move time (API key grace periods). */
    clock: { now: () => number }
  }
  interface FastifyRequest {
    /** The API key the caller authenticated with (its rate limit included), else null. */
    apiKey: ApiKeyIdentity | null
  }
}

/** The OpenAPI security requirement of a protected route: a bearer token or an API key. */
export const authSecurity: Array<Record<string, string[]>> = [{ bearerAuth: [] }, { apiKey: [] }]
/** The OpenAPI security requirement of a public route: none (`security: []`). */
export const publicRoute: Array<Record<string, string[]>> = []

/** An audit logger bound to the request: one info line per event, with the request id and caller. */
export const auditFor =
  (request: FastifyRequest): Audit =>
  (event, fields = {}) => {
    request.log.info({ event, requestId: request.id, ...(request.user ? { actorId: request.user.id } : {}), ...fields }, event)
  }

const REALM = 'Bearer realm="keel"'

/**
 * JWT_SECRET, or (outside production only) a random secret kept in .data/jwt-secret so tokens
 * survive restarts of the embedded default. Production refuses to start without JWT_SECRET (src/lib/config.ts).
 */
export function resolveJwtSecret(
  config: Pick<Config, 'JWT_SECRET' | 'NODE_ENV'>,
  log: FastifyBaseLogger,
  file = join(projectRoot, '.data', 'jwt-secret'),
): string {
  if (config.JWT_SECRET) return config.JWT_SECRET
  if (config.NODE_ENV === 'production') throw new Error('JWT_SECRET is required in production')
  const read = () => {
    try {
      const secret = readFileSync(file, 'utf8').trim()
      return secret.length >= 32 ? secret : undefined
    } catch {
      return undefined
    }
  }
  const existing = read()
  if (existing) return existing
  mkdirSync(dirname(file), { recursive: true })
  try {
    writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' })
    log.warn({ file }, 'JWT_SECRET is not set: generated a development secret (set JWT_SECRET in production)')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error // another process wrote it first
  }
  const secret = read()
  if (!secret) throw new Error(`Could not read the generated JWT secret in ${file}`)
  return secret
}

export default fp(
  async (fastify) => {
    const { config } = fastify
    await fastify.register(jwt, {
      secret: resolveJwtSecret(config, fastify.log),
      sign: { algorithm: 'HS256', iss: config.JWT_ISSUER, aud: config.JWT_AUDIENCE, expiresIn: config.JWT_ACCESS_TTL_SECONDS }, // seconds: @fastify/jwt converts numbers to ms
      verify: {
        algorithms: ['HS256'],
        allowedIss: config.JWT_ISSUER,
        allowedAud: config.JWT_AUDIENCE,
        // allowedIss/allowedAud only check claims that are present: requiring them refuses a token without them.
        requiredClaims: ['sub', 'exp', 'iat', 'iss', 'aud', 'sid'],
      },
    })

    const clock = { now: () => Date.now() }
    fastify.decorate('clock', clock)
    fastify.decorateRequest('apiKey', null)

    const resolvers: Partial<CredentialResolvers> = {}
    fastify.decorate('credentials', {
      use(given: Partial<CredentialResolvers>) {
        for (const kind of Object.keys(given) as (keyof CredentialResolvers)[]) {
          if (resolvers[kind]) throw new Error(`a ${kind} resolver is registered twice`)
        }
        Object.assign(resolvers, given)
      },
    })

    const invalid = (description: string) =>
      Object.assign(new UnauthorizedError(description === 'expired' ? 'The access token has expired' : 'Invalid or expired credentials'), {
        challenge: `${REALM}, error="invalid_token", error_description="${description}"`,
      })

    /**
     * The principal for the request's credentials, null when there are none; rejects with a 401 when
     * they do not stand. Checked once per request: the rate limiter identifies the caller first, the
     * route's authentication reuses the outcome (a forged key costs one lookup, not two).
     */
    const checked = new WeakMap<FastifyRequest, Promise<Principal | null>>()
    function principalOf(request: FastifyRequest): Promise<Principal | null> {
      let outcome = checked.get(request)
      if (!outcome) checked.set(request, (outcome = check(request)))
      return outcome
    }
    async function check(request: FastifyRequest): Promise<Principal | null> {
      const authorization = request.headers.authorization
      const apiKey = request.headers[API_KEY_HEADER]
      if (authorization) {
        const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1]
        if (!token) throw invalid('malformed')
        let claims: AccessClaims
        try {
          claims = fastify.jwt.verify<AccessClaims>(token)
        } catch (error) {
          throw invalid((error as { code?: string }).code === 'FAST_JWT_EXPIRED' ? 'expired' : 'invalid')
        }
        if (typeof claims.sub !== 'string' || typeof claims.ver !== 'number' || typeof claims.sid !== 'string') throw invalid('invalid')
        const principal = resolvers.accessToken ? await resolvers.accessToken(claims) : null
        if (!principal) throw invalid('revoked')
        return principal
      }
      if (typeof apiKey === 'string' && apiKey !== '') {
        const resolved = resolvers.apiKey ? await resolvers.apiKey(apiKey) : null
        if (!resolved) throw invalid('invalid')
        request.apiKey = resolved.key
        return resolved.principal
      }
      return null
    }

    const setCaller = (request: FastifyRequest, user: Principal | null) => {
      request.user = user
      if (user) {
        request.logFields.userId = user.id
        if (user.apiKeyId) request.logFields.apiKeyId = user.apiKeyId
      }
    }

    const authenticateOptional: AuthHook = async (request, reply) => {
      if (request.user) return // already authenticated by an earlier hook
      try {
        setCaller(request, await principalOf(request))
      } catch (error) {
        if (error instanceof UnauthorizedError && 'challenge' in error) reply.header('www-authenticate', error.challenge)
        throw error
      }
    }

    const identify = async (request: FastifyRequest): Promise<Principal | null> => {
      if (request.user) return request.user
      try {
        setCaller(request, await principalOf(request))
      } catch (error) {
        if (!(error instanceof UnauthorizedError)) throw error
        setCaller(request, null)
      }
      return request.user
    }

    const authenticate: AuthHook = async (request, reply) => {
      await authenticateOptional(request, reply)
      if (!request.user) {
        reply.header('www-authenticate', REALM)
        throw new UnauthorizedError('Authentication required: send a bearer access token or an X-API-Key')
      }
    }

    fastify.decorate('authenticate', authenticate)
    fastify.decorate('authenticateOptional', authenticateOptional)
    fastify.decorate('identify', identify)
    fastify.decorate(
      'requirePermission',
      (permission: Permission, options: { session?: boolean } = {}): AuthHook =>
        async (request, reply) => {
          await authenticate(request, reply)
          if (options.session && !request.user!.sessionId) {
            throw new SessionRequiredError()
          }
          if (!can(request.user, permission)) throw new ForbiddenError(`This action needs the '${permission}' permission`)
        },
    )
    fastify.decorate('signAccessToken', (user: { id: string; role: Role; tokenVersion: number }, sessionId: string) => ({
      accessToken: fastify.jwt.sign({ sub: user.id, role: user.role, ver: user.tokenVersion, sid: sessionId }),
      expiresIn: config.JWT_ACCESS_TTL_SECONDS,
    }))
  },
  { fastify: '5.x', name: 'auth', dependencies: ['config', 'db', 'redis', 'cache'] },
)
