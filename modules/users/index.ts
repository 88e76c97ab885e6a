// The users module: accounts, listed and managed by admins, read and changed by their owners.
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createUsersRepository } from './repository.js'
import { usersRoutes } from './routes.js'
import { createUsersService } from './service.js'

const users: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const service = createUsersService({
    repo: createUsersRepository(app.db),
    cache: app.cache,
    authStateTtlSeconds: app.config.AUTH_STATE_CACHE_TTL_SECONDS,
  })
  await app.register(usersRoutes, { service })
}

export default users
