// The orders module: buying products. Placing an order reserves stock through the products contract,
// in one transaction with the order, its items, the Idempotency-Key record and its order.created event.
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
import fp from 'fastify-plugin'
import { createOrderRepository } from './repository.js'
import { orderRoutes } from './routes.js'
import { orderSchemas } from './schemas.js'
import { createOrderService } from './service.js'

export default fp(
  async (app) => {
    for (const schema of orderSchemas) app.addSchema(schema)
    const service = createOrderService({
      db: app.db,
      dbRead: app.dbRead,
      cache: app.cache,
      events: app.events,
      products: app.products,
      repo: createOrderRepository(),
      idempotencyTtlHours: app.config.IDEMPOTENCY_TTL_HOURS,
    })
    orderRoutes(app, service)
  },
  { fastify: '5.x', name: 'orders-module', dependencies: ['auth', 'cache', 'events', 'products-contract'], encapsulate: true },
)
