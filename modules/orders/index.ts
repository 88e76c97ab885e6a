// Orders module: buying products. Placing an order reserves stock through the products contract,
// in one transaction with the order, its items and the Idempotency-Key record.
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createOrderRepository } from './repository.js'
import { createOrderService, type OnOrderCreated } from './service.js'
import { orderRoutes } from './routes.js'

const orders: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  // >>> CONFIRMATION EMAIL HOOK — runs inside the order's transaction, after the order and its
  // items are written. Enqueue the email here with that transaction, e.g.
  //   await app.jobs.send('<email queue>', { ... }, { tx })
  // so the job exists exactly when the order commits (a throw rolls the order back).
  const onOrderCreated: OnOrderCreated = async ({ tx: _tx, order: _order }) => {}

  const service = createOrderService({
    db: app.db,
    dbRead: app.dbRead,
    cache: app.cache,
    repo: createOrderRepository(),
    idempotencyTtlHours: app.config.IDEMPOTENCY_TTL_HOURS,
    onOrderCreated,
    log: (event, fields) => app.log.info({ event, ...fields }, event),
  })
  orderRoutes(app, service)
}

export default orders
