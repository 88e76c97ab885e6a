// The products module: the marketplace catalog. Public reads (cache-aside, ETag), owner/staff writes.
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
import fp from 'fastify-plugin'
import { createProductRepository } from './repository.js'
import { productRoutes } from './routes.js'
import { productSchemas } from './schemas.js'
import { createProductService } from './service.js'

export default fp(
  async (app) => {
    for (const schema of productSchemas) app.addSchema(schema)
    const service = createProductService({
      db: app.db,
      dbRead: app.dbRead,
      cache: app.cache,
      events: app.events,
      repo: createProductRepository(),
      cacheTtlSeconds: app.config.CACHE_TTL_SECONDS,
    })
    productRoutes(app, service)
  },
  { fastify: '5.x', name: 'products-module', dependencies: ['auth', 'cache', 'events'], encapsulate: true },
)
