// Products module: the marketplace catalog. Public reads (cache-aside, ETag), owner/moderator writes.
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { currentRequestId } from '../../plugins/request-context.js'
import { publishEvent } from '../webhooks/contract.js'
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
    // After commit: every change is a log line; `product.updated` also goes to webhook subscribers.
    publish: async (name, event) => {
      app.log.info({ event: name, ...event }, name)
      if (name === 'product.updated') await publishEvent(app, { type: name, data: event, requestId: currentRequestId() })
    },
  })
  productRoutes(app, service)
}

export default products
