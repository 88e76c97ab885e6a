// Sales figures for the reports module (through orders' contract): one aggregate statement over
// orders and their items, per UTC day. Cancelled orders do not count.
import { and, eq, gte, lt, ne, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { orderItems, orders } from './tables.js'

export interface SalesDay {
  /** YYYY-MM-DD (UTC). */
  day: string
  orders: number
  itemsSold: number
  revenueCents: number
}

export interface SalesQuery {
  from: Date
  /** Exclusive. */
  to: Date
  /** Only this buyer's orders. */
  userId?: string
}

export async function salesByDay(db: DbOrTx, { from, to, userId }: SalesQuery): Promise<SalesDay[]> {
  const day = sql<string>`to_char(${orders.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`
  const rows = await db
    .select({
      day,
      orders: sql<number>`count(distinct ${orders.id})::int`,
      itemsSold: sql<number>`sum(${orderItems.quantity})::int`,
      revenueCents: sql<string>`sum(${orderItems.quantity}::bigint * ${orderItems.unitPriceCents})`,
    })
    .from(orders)
    .innerJoin(orderItems, eq(orderItems.orderId, orders.id))
    .where(
      and(
        ne(orders.status, 'cancelled'),
        gte(orders.createdAt, from),
        lt(orders.createdAt, to),
        userId ? eq(orders.userId, userId) : undefined,
      ),
    )
    .groupBy(day)
    .orderBy(day)
  return rows.map((r) => ({ ...r, revenueCents: Number(r.revenueCents) }))
}
