// Auth's public contract, built once and decorated as `app.sessions`: the sessions (their cached
// state, and the ways they end). It also hands the auth plugin its access-token resolver, which
// owns the whole answer to "does this bearer token still stand": the user is active and has not
// moved its token version on (logout everywhere, a new password, disabling) since the token was
// signed, and the session the token names is the user's and has not ended (logout, reuse).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { rolePermissions } from '../../src/lib/permissions.js'
import { createAuthRepository } from './repository.js'
import { createSessions } from './service.js'

export type { Tokens, LoginResult } from './schemas.js'
export type { AccessClaims } from '../../plugins/auth.js'
export type { SessionState } from './service.js'

export function createSessionContract(app: FastifyInstance) {
  return createSessions({
    db: app.db,
    cache: app.cache,
    repo: createAuthRepository(),
    cacheTtlSeconds: app.config.AUTH_STATE_CACHE_TTL_SECONDS,
    lastUsedIntervalMs: app.config.SESSION_LAST_USED_INTERVAL_SECONDS * 1000,
    now: () => app.clock.now(),
  })
}

export type SessionContract = ReturnType<typeof createSessionContract>

declare module 'fastify' {
  interface FastifyInstance {
    sessions: SessionContract
  }
}

export default fp(
  async (app) => {
    const sessions = createSessionContract(app)
    app.decorate('sessions', sessions)
    app.credentials.use({
      async accessToken(claims) {
        const [user, session] = await Promise.all([app.users.getAuthState(claims.sub), sessions.state(claims.sid)])
        if (!user || user.status !== 'active' || user.tokenVersion !== claims.ver) return null
        if (!session || !session.live || session.userId !== user.id) return null
        await sessions.touch(claims.sid)
        return { id: user.id, role: user.role, permissions: rolePermissions[user.role], sessionId: claims.sid }
      },
    })
  },
  { fastify: '5.x', name: 'auth-contract', dependencies: ['db', 'cache', 'auth', 'users-contract'] },
)
