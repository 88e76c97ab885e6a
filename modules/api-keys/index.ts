// The api-keys module: keys that act as their owner (narrowed by scopes), rotated with a grace period.
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createApiKeysRepository } from './repository.js'
import { apiKeysRoutes } from './routes.js'
import { createApiKeysService } from './service.js'

const apiKeys: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const service = createApiKeysService({
    repo: createApiKeysRepository(app.db),
    now: () => app.clock.now(),
    graceSeconds: app.config.API_KEY_GRACE_SECONDS,
  })
  await app.register(apiKeysRoutes, { service })
}

export default apiKeys
