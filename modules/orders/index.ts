// Orders module: buying products. Placing an order reserves stock through the products contract,
// in one transaction with the order, its items and the Idempotency-Key record.
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { currentRequestId } from '../../plugins/request-context.js'
import { sendOrderConfirmationEmail } from '../emails/contract.js'
import { findUserEmail } from '../users/contract.js'
import { publishEvent } from '../webhooks/contract.js'
import { createOrderRepository } from './repository.js'
import { createOrderService, type OnOrderCancelled, type OnOrderCreated } from './service.js'
import { orderRoutes } from './routes.js'

const orders: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  // Inside the order's transaction: the confirmation email and the webhook deliveries exist
  // exactly when the order commits (a throw rolls the order back).
  const onOrderCreated: OnOrderCreated = async ({ tx, order }) => {
    const email = await findUserEmail(tx, order.userId)
    if (email) {
      const items = order.items.map((i) => ({ name: i.productName, quantity: i.quantity, unitPriceCents: i.unitPriceCents }))
      await sendOrderConfirmationEmail(app, email, { orderId: order.id, totalCents: order.totalCents, items }, tx)
    }
    await publishEvent(app, { type: 'order.created', data: order, requestId: currentRequestId() }, tx)
  }
  const onOrderCancelled: OnOrderCancelled = async ({ tx, order }) => {
    await publishEvent(app, { type: 'order.cancelled', data: order, requestId: currentRequestId() }, tx)
  }

  const service = createOrderService({
    db: app.db,
    dbRead: app.dbRead,
    cache: app.cache,
    repo: createOrderRepository(),
    idempotencyTtlHours: app.config.IDEMPOTENCY_TTL_HOURS,
    onOrderCreated,
    onOrderCancelled,
    log: (event, fields) => app.log.info({ event, ...fields }, event),
  })
  orderRoutes(app, service)
}

export default orders
