// Orders' public contract: the order shape and placing an order on a user's behalf (the demo seed).
import type { Db } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import { rolePermissions } from '../../plugins/rbac.js'
import { createOrderRepository } from './repository.js'
import { createOrderService } from './service.js'

export type { Order, OrderItem, OrderCreatedEvent } from './schemas.js'
export type { OnOrderCreated } from './service.js'

export interface OrdersContractDeps {
  db: Db
  cache: Cache
  idempotencyTtlHours: number
}

export function createOrdersContract({ db, cache, idempotencyTtlHours }: OrdersContractDeps) {
  const service = createOrderService({ db, dbRead: db, cache, repo: createOrderRepository(), idempotencyTtlHours })
  return {
    /** Place an order as the user (same rules as POST /orders: one transaction, stock checked). */
    async placeFor(userId: string, items: { productId: string; quantity: number }[]) {
      const placed = await service.place({ id: userId, role: 'user', permissions: rolePermissions.user }, { items })
      return placed.order
    },
  }
}

// Sales per day for the reports module (one aggregate statement; see sales.ts).
export { salesByDay, type SalesDay, type SalesQuery } from './sales.js'
