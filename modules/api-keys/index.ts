// The api-keys module: keys that act as their owner (narrowed to their scopes), managed from a bearer
// session, rotated with a grace period. Encapsulated: its schemas and routes stay in its own context;
// it decorates nothing on the root (the key resolver is handed to the auth plugin by contract.ts).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createApiKeyRepository } from './repository.js'
import { apiKeyRoutes } from './routes.js'
import { apiKeySchemas } from './schemas.js'
import { createApiKeyService, type ApiKeyServiceDeps } from './service.js'

/** The service's dependencies, read from the instance (the routes here, the user.deleted subscriber in jobs.ts). */
export const apiKeyServiceDeps = (app: FastifyInstance): ApiKeyServiceDeps => ({
  db: app.db,
  cache: app.cache,
  repo: createApiKeyRepository(),
  now: () => app.clock.now(),
  graceSeconds: app.config.API_KEY_GRACE_SECONDS,
  maxPerUser: app.config.API_KEYS_MAX_PER_USER,
  defaultRateLimit: { max: app.config.RATE_LIMIT_MAX, windowSeconds: app.config.RATE_LIMIT_WINDOW_SECONDS },
  audit: app.audit,
})

export default fp(
  async (app) => {
    for (const schema of apiKeySchemas) app.addSchema(schema)
    apiKeyRoutes(app, createApiKeyService(apiKeyServiceDeps(app)))
  },
  { fastify: '5.x', name: 'api-keys-module', dependencies: ['auth', 'cache', 'audit-events-contract'], encapsulate: true },
)
