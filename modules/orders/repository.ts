// Orders: the only code that touches orders, order_items and idempotency_keys. Explicit columns;
// every function takes a Drizzle handle (the pool, the read replica or a transaction).
import { and, asc, count, eq, lt, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { idempotencyKeys, orderItems, orders } from './tables.js'
import type { OrderFilters } from './schemas.js'

const orderColumns = {
  id: orders.id,
  userId: orders.userId,
  status: orders.status,
  totalCents: orders.totalCents,
  version: orders.version,
  createdAt: orders.createdAt,
  updatedAt: orders.updatedAt,
}
const itemColumns = {
  orderId: orderItems.orderId,
  productId: orderItems.productId,
  productName: orderItems.productName,
  quantity: orderItems.quantity,
  unitPriceCents: orderItems.unitPriceCents,
}

export type OrderRow = typeof orders.$inferSelect
export type OrderItemRow = typeof orderItems.$inferSelect

const whereOf = (f: OrderFilters): SQL | undefined =>
  and(f.userId ? eq(orders.userId, f.userId) : undefined, f.status ? eq(orders.status, f.status) : undefined)

export function createOrderRepository() {
  return {
    async insertOrder(
      db: DbOrTx,
      values: { id: string; userId: string; totalCents: number; status?: OrderRow['status'] },
    ): Promise<OrderRow> {
      const [row] = await db.insert(orders).values(values).returning(orderColumns)
      return row!
    },

    async insertItems(db: DbOrTx, items: OrderItemRow[]): Promise<OrderItemRow[]> {
      return db.insert(orderItems).values(items).returning(itemColumns)
    },

    async findById(db: DbOrTx, id: string, options: { forUpdate?: boolean } = {}): Promise<OrderRow | undefined> {
      const query = db.select(orderColumns).from(orders).where(eq(orders.id, id))
      const [row] = await (options.forUpdate ? query.for('update') : query)
      return row
    },

    async setStatus(db: DbOrTx, id: string, status: OrderRow['status']): Promise<OrderRow> {
      const [row] = await db
        .update(orders)
        .set({ status, version: sql`${orders.version} + 1`, updatedAt: sql`now()` })
        .where(eq(orders.id, id))
        .returning(orderColumns)
      return row!
    },

    /** One page plus one row (to tell whether a next page exists): one query, whatever its size. */
    async list(db: DbOrTx, filters: OrderFilters, list: ParsedList): Promise<OrderRow[]> {
      return db
        .select(orderColumns)
        .from(orders)
        .where(whereOf(filters))
        .orderBy(...orderBy(list.sort, orderColumns, orders.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async count(db: DbOrTx, filters: OrderFilters): Promise<number> {
      const [row] = await db.select({ n: count() }).from(orders).where(whereOf(filters))
      return row?.n ?? 0
    },

    /** The items of many orders in one query (no N+1). */
    async itemsOf(db: DbOrTx, orderIds: string[]): Promise<OrderItemRow[]> {
      if (orderIds.length === 0) return []
      // `= any($1)` with one array parameter: the same prepared statement whatever the page size.
      return db
        .select(itemColumns)
        .from(orderItems)
        .where(sql`${orderItems.orderId} = any(${sql.param(orderIds)}::uuid[])`)
        .orderBy(asc(orderItems.orderId), asc(orderItems.productId))
    },

    /**
     * Claim an Idempotency-Key inside the order's transaction. A concurrent claim of the same key
     * waits here until the first transaction ends; it then sees the committed row (and replays it)
     * or, if the first one rolled back, claims the key itself. An expired row is taken over.
     */
    async claimKey(db: DbOrTx, row: { userId: string; key: string; requestHash: string; ttlHours: number }): Promise<boolean> {
      const claimed = await db
        .insert(idempotencyKeys)
        .values({ userId: row.userId, key: row.key, requestHash: row.requestHash, responseStatus: 0, responseBody: {} })
        .onConflictDoUpdate({
          target: [idempotencyKeys.userId, idempotencyKeys.key],
          set: { requestHash: row.requestHash, responseStatus: 0, responseBody: {}, createdAt: sql`now()` },
          setWhere: lt(idempotencyKeys.createdAt, sql`now() - make_interval(hours => ${row.ttlHours})`),
        })
        .returning({ key: idempotencyKeys.key })
      return claimed.length === 1
    },

    async findKey(db: DbOrTx, userId: string, key: string) {
      const [row] = await db
        .select({
          requestHash: idempotencyKeys.requestHash,
          responseStatus: idempotencyKeys.responseStatus,
          responseBody: idempotencyKeys.responseBody,
        })
        .from(idempotencyKeys)
        .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key)))
      return row
    },

    async saveResponse(db: DbOrTx, userId: string, key: string, status: number, body: unknown): Promise<void> {
      await db
        .update(idempotencyKeys)
        .set({ responseStatus: status, responseBody: body })
        .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key)))
    },

    async purgeKeys(db: DbOrTx, ttlHours: number): Promise<number> {
      const rows = await db
        .delete(idempotencyKeys)
        .where(lt(idempotencyKeys.createdAt, sql`now() - make_interval(hours => ${ttlHours})`))
        .returning({ key: idempotencyKeys.key })
      return rows.length
    },
  }
}

export type OrderRepository = ReturnType<typeof createOrderRepository>
