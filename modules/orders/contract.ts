// Orders' public contract, built once and decorated as `app.orders`: placing an order on a user's
// behalf (the demo seed) and the sales figures reports are built from; the events subscribers receive.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { rolePermissions } from '../../src/lib/permissions.js'
import { orderServiceDeps } from './index.js'
import { salesByDay, type SalesQuery } from './sales.js'
import { createOrderService } from './service.js'

export type { SalesDay, SalesQuery } from './sales.js'
export { orderCreated, orderCancelled } from './events.js'

export function createOrderContract(app: FastifyInstance) {
  const service = createOrderService(orderServiceDeps(app))
  return {
    /** Place an order as the user (same rules as POST /orders: one transaction, stock checked). */
    async placeFor(userId: string, items: { productId: string; quantity: number }[]) {
      const placed = await service.place({ id: userId, role: 'user', permissions: rolePermissions.user }, { items })
      return placed.order
    },
    /** Sales per UTC day (one aggregate statement); cancelled orders do not count. */
    salesByDay: (query: SalesQuery) => salesByDay(app.dbRead, query),
  }
}

export type OrderContract = ReturnType<typeof createOrderContract>

declare module 'fastify' {
  interface FastifyInstance {
    orders: OrderContract
  }
}

export default fp(
  async (app) => {
    app.decorate('orders', createOrderContract(app))
  },
  { fastify: '5.x', name: 'orders-contract', dependencies: ['db', 'cache', 'events', 'products-contract'] },
)
