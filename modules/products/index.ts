// Products module: the marketplace catalog. Public reads (cache-aside, ETag), owner/moderator writes.
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createProductRepository } from './repository.js'
import { createProductService } from './service.js'
import { productRoutes } from './routes.js'

const products: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const service = createProductService({
    db: app.db,
    dbRead: app.dbRead,
    cache: app.cache,
    repo: createProductRepository(),
    cacheTtlSeconds: app.config.CACHE_TTL_SECONDS,
    // Business events as their own log lines; a module wanting them (webhooks) can hook in here.
    publish: (name, event) => app.log.info({ event: name, ...event }, name),
  })
  productRoutes(app, service)
}

export default products
