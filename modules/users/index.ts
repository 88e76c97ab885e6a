// The users module: accounts, listed and managed by admins, read and changed by their owners.
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
import fp from 'fastify-plugin'
import { userServiceDeps } from './contract.js'
import { userRoutes } from './routes.js'
import { userSchemas } from './schemas.js'
import { createUserService } from './service.js'

export default fp(
  async (app) => {
    for (const schema of userSchemas) app.addSchema(schema)
    const service = createUserService(userServiceDeps(app))
    userRoutes(app, service)
  },
  {
    fastify: '5.x',
    name: 'users-module',
    dependencies: ['auth', 'cache', 'events', 'rate-limit', 'users-contract', 'audit-events-contract'],
    encapsulate: true,
  },
)
