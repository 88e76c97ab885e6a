// The auth module: register, login, refresh (rotating, with reuse detection), logout, me.
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { sendWelcomeEmail } from '../emails/contract.js'
import { createAuthRepository } from './repository.js'
import { authRoutes } from './routes.js'
import { createAuthService } from './service.js'

const auth: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { config } = app
  const users = app.users
  const service = createAuthService({
    repo: createAuthRepository(app.db),
    users,
    signAccessToken: app.signAccessToken,
    refreshTtlDays: config.REFRESH_TOKEN_TTL_DAYS,
    now: () => app.clock.now(),
    // Best effort: the account is already committed, so a failure to queue is logged, not a 500.
    onRegistered: async (user) => {
      await sendWelcomeEmail(app, user.email, { name: user.name }).catch((err: unknown) =>
        app.log.error({ err, userId: user.id }, 'could not queue the welcome email'),
      )
    },
  })
  await app.register(authRoutes, { service })
}

export default auth
