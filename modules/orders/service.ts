// Orders: placing an order in one transaction (stock, items, idempotency, its order.created event),
// listing with items in a fixed number of queries, and cancelling (stock back) in a transaction.
import { createHash } from 'node:crypto'
import type { Db } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import type { Events } from '../../plugins/events.js'
import { actsOnAnything, type Principal } from '../../src/lib/permissions.js'
import { newId } from '../../src/lib/ids.js'
import { withDetails } from '../../src/lib/errors.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import type { ProductContract } from '../products/contract.js'
import {
  IdempotencyKeyReusedError,
  InsufficientStockError,
  InvalidOrderItemsError,
  OrderNotCancellableError,
  OrderNotFoundError,
  ProductUnavailableError,
} from './errors.js'
import { orderCancelled, orderCreated } from './events.js'
import type { OrderItemRow, OrderRepository, OrderRow } from './repository.js'
import type { CreateOrderInput, Order, OrderFilters } from './schemas.js'

const ORDER_COUNT_NAMESPACE = 'orders'
/** total_cents is a PostgreSQL integer. */
const MAX_TOTAL_CENTS = 2_147_483_647

export interface OrderServiceDeps {
  db: Db
  dbRead: Db
  cache: Cache
  events: Events
  /** Stock is reserved and restored through the products contract, inside the order's transaction. */
  products: Pick<ProductContract, 'reserveStock' | 'restoreStock' | 'invalidate'>
  repo: OrderRepository
  idempotencyTtlHours: number
}

interface PlacedOrder {
  order: Order
  /** True when this is the stored response of an earlier request with the same Idempotency-Key. */
  replayed: boolean
}

function toOrder(row: OrderRow, items: OrderItemRow[]): Order {
  return {
    id: row.id,
    userId: row.userId,
    status: row.status,
    totalCents: row.totalCents,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    items: items.map(({ productId, productName, quantity, unitPriceCents }) => ({ productId, productName, quantity, unitPriceCents })),
  }
}

/** The same order asked for twice hashes the same, whatever the JSON key order or id case. */
function requestHash(input: CreateOrderInput): string {
  const canonical = input.items.map((i) => [i.productId.toLowerCase(), i.quantity])
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex')
}

function checkItems(input: CreateOrderInput) {
  if (input.items.length === 0) {
    throw withDetails(new InvalidOrderItemsError('An order needs at least one item'), [{ field: 'items', message: 'must not be empty' }])
  }
  const seen = new Set<string>()
  input.items.forEach((item, i) => {
    const id = item.productId.toLowerCase()
    if (seen.has(id)) {
      throw withDetails(
        new InvalidOrderItemsError(`Product ${item.productId} appears more than once; order it once with the total quantity`),
        [{ field: `items.${i}.productId`, message: 'is repeated' }],
      )
    }
    seen.add(id)
  })
}

const canSee = (principal: Principal, order: OrderRow) => order.userId === principal.id || actsOnAnything(principal)

export function createOrderService({ db, dbRead, cache, events, products, repo, idempotencyTtlHours }: OrderServiceDeps) {
  /** Once committed: the products' cached copies (their stock moved) and the cached list totals. */
  async function afterCommit(order: Order) {
    await Promise.all([products.invalidate(order.items.map((i) => i.productId)), cache.invalidateCounts(ORDER_COUNT_NAMESPACE)])
  }

  return {
    /**
     * Place an order: claim the Idempotency-Key (if any), reserve stock, write the order and its items
     * at today's prices, publish order.created — all in one transaction; any failure rolls everything back.
     */
    async place(principal: Principal, input: CreateOrderInput, idempotencyKey?: string): Promise<PlacedOrder> {
      checkItems(input)
      const hash = requestHash(input)
      const placed = await db.transaction(async (tx): Promise<PlacedOrder> => {
        if (idempotencyKey !== undefined) {
          const claimed = await repo.claimKey(tx, {
            userId: principal.id,
            key: idempotencyKey,
            requestHash: hash,
            ttlHours: idempotencyTtlHours,
          })
          if (!claimed) {
            const earlier = await repo.findKey(tx, principal.id, idempotencyKey)
            if (!earlier || earlier.requestHash !== hash) throw new IdempotencyKeyReusedError()
            // A new order is at version 1; responses stored before orders had a version lack it.
            return { order: { version: 1, ...(earlier.responseBody as Omit<Order, 'version'>) }, replayed: true }
          }
        }

        const reserved = await products.reserveStock(tx, input.items)
        if (!reserved.ok) {
          const i = input.items.findIndex((item) => item.productId.toLowerCase() === reserved.productId.toLowerCase())
          const field = `items.${i}.productId`
          if (reserved.reason === 'unavailable') {
            throw withDetails(new ProductUnavailableError(`Product ${reserved.productId} does not exist or is not for sale`), [
              { field, message: 'unknown or not for sale', productId: reserved.productId },
            ])
          }
          throw withDetails(new InsufficientStockError(`Not enough stock for product ${reserved.productId}: ${reserved.available} left`), [
            { field, message: `only ${reserved.available} in stock`, productId: reserved.productId, available: reserved.available },
          ])
        }

        const orderId = newId()
        const totalCents = reserved.lines.reduce((sum, l) => sum + l.unitPriceCents * l.quantity, 0)
        if (totalCents > MAX_TOTAL_CENTS) {
          throw withDetails(new InvalidOrderItemsError('The order total is too large; split it into several orders'), [
            { field: 'items', message: 'total too large' },
          ])
        }
        const row = await repo.insertOrder(tx, { id: orderId, userId: principal.id, totalCents })
        const items = await repo.insertItems(
          tx,
          reserved.lines.map((l) => ({
            orderId,
            productId: l.productId,
            productName: l.name,
            quantity: l.quantity,
            unitPriceCents: l.unitPriceCents,
          })),
        )
        const order = toOrder(row, items)
        if (idempotencyKey !== undefined) await repo.saveResponse(tx, principal.id, idempotencyKey, 201, order)
        await events.publish(orderCreated, order, { tx })
        return { order, replayed: false }
      })
      if (!placed.replayed) await afterCommit(placed.order)
      return placed
    },

    /** A page of orders (the caller's own; everybody's for moderators and admins), items embedded: 3 queries at most. */
    async list(principal: Principal, filters: OrderFilters, list: ParsedList): Promise<{ items: Order[]; meta: PageMeta }> {
      const scoped: OrderFilters = { status: filters.status, userId: actsOnAnything(principal) ? filters.userId : principal.id }
      const page = async () => {
        const rows = await repo.list(dbRead, scoped, list)
        return {
          rows,
          items: await repo.itemsOf(
            dbRead,
            rows.map((r) => r.id),
          ),
        }
      }
      // The page (then its items) and the total at once.
      const [{ rows, items }, total] = await Promise.all([
        page(),
        cache.count(ORDER_COUNT_NAMESPACE, { ...scoped }, () => repo.count(dbRead, scoped)),
      ])
      const byOrder = new Map<string, OrderItemRow[]>()
      for (const item of items) byOrder.set(item.orderId, [...(byOrder.get(item.orderId) ?? []), item])
      return toPage(rows, list, (row) => toOrder(row, byOrder.get(row.id) ?? []), total)
    },

    /** One order, for its buyer or a moderator/admin; anybody else gets a 404 (its existence is not revealed). */
    async get(principal: Principal, id: string): Promise<Order> {
      const row = await repo.findById(db, id)
      if (!row || !canSee(principal, row)) throw new OrderNotFoundError()
      return toOrder(row, await repo.itemsOf(db, [id]))
    },

    /** Cancel and give the stock back, in one transaction; a cancelled order is a 409. */
    async cancel(principal: Principal, id: string): Promise<Order> {
      const order = await db.transaction(async (tx) => {
        const row = await repo.findById(tx, id, { forUpdate: true })
        if (!row || !canSee(principal, row)) throw new OrderNotFoundError()
        if (row.status === 'cancelled') throw new OrderNotCancellableError('This order is already cancelled')
        const items = await repo.itemsOf(tx, [id])
        await products.restoreStock(tx, items)
        const cancelled = toOrder(await repo.setStatus(tx, id, 'cancelled'), items)
        await events.publish(orderCancelled, cancelled, { tx })
        return cancelled
      })
      await afterCommit(order)
      return order
    },
  }
}

export type OrderService = ReturnType<typeof createOrderService>
