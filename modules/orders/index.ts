// The orders module: buying products. Placing an order reserves stock through the products contract,
// in one transaction with the order, its items, the Idempotency-Key record and its order.created event.
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createOrderRepository } from './repository.js'
import { orderRoutes } from './routes.js'
import { orderSchemas } from './schemas.js'
import { createOrderService, type OrderServiceDeps } from './service.js'

/** The service's dependencies, read from the instance (the routes here, the contract's placeFor). */
export const orderServiceDeps = (app: FastifyInstance): OrderServiceDeps => ({
  db: app.db,
  dbRead: app.dbRead,
  cache: app.cache,
  events: app.events,
  products: app.products,
  repo: createOrderRepository(),
  idempotencyTtlHours: app.config.IDEMPOTENCY_TTL_HOURS,
})

export default fp(
  async (app) => {
    for (const schema of orderSchemas) app.addSchema(schema)
    orderRoutes(app, createOrderService(orderServiceDeps(app)))
  },
  { fastify: '5.x', name: 'orders-module', dependencies: ['auth', 'cache', 'events', 'products-contract'], encapsulate: true },
)
