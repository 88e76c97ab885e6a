// The auth module: sign-up, login, sessions (rotating refresh tokens with reuse detection), logout, me.
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
import fp from 'fastify-plugin'
import { createAuthRepository } from './repository.js'
import { authRoutes } from './routes.js'
import { authSchemas } from './schemas.js'
import { createAuthService } from './service.js'

export default fp(
  async (app) => {
    for (const schema of authSchemas) app.addSchema(schema)
    const service = createAuthService({
      db: app.db,
      repo: createAuthRepository(),
      sessions: app.sessions,
      users: app.users,
      loginFailures: app.loginFailures,
      audit: app.audit,
      signAccessToken: app.signAccessToken,
      refreshTtlDays: app.config.REFRESH_TOKEN_TTL_DAYS,
      now: () => app.clock.now(),
    })
    authRoutes(app, service)
  },
  {
    fastify: '5.x',
    name: 'auth-module',
    dependencies: ['auth', 'rate-limit', 'users-contract', 'auth-contract', 'audit-events-contract'],
    encapsulate: true,
  },
)
