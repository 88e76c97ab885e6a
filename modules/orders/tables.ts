// Orders, their items (price at purchase time) and the Idempotency-Key records of POST /orders.
import { sql } from 'drizzle-orm'
import { check, index, integer, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn, timestamps, versionColumn } from '../../src/db/columns.js'

export const ORDER_STATUSES = ['pending', 'confirmed', 'cancelled'] as const

export const orders = pgTable(
  'orders',
  {
    id: idColumn(),
    userId: uuid().notNull(),
    status: text({ enum: ORDER_STATUSES }).notNull().default('confirmed'),
    totalCents: integer().notNull(),
    version: versionColumn(),
    ...timestamps(),
  },
  (t) => [
    check('orders_total_non_negative', sql`${t.totalCents} >= 0`),
    check('orders_status_valid', sql`${t.status} in ('pending', 'confirmed', 'cancelled')`),
    // A user's orders, newest first; and everybody's for moderators.
    index('orders_user_id_created_at_id_idx').on(t.userId, t.createdAt, t.id),
    index('orders_created_at_id_idx').on(t.createdAt, t.id),
  ],
)

export const orderItems = pgTable(
  'order_items',
  {
    orderId: uuid()
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    // No foreign key: products belong to another module (and are only ever soft-deleted).
    productId: uuid().notNull(),
    productName: text().notNull(),
    quantity: integer().notNull(),
    unitPriceCents: integer().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orderId, t.productId] }),
    index('order_items_product_id_idx').on(t.productId),
    check('order_items_quantity_positive', sql`${t.quantity} > 0`),
    check('order_items_price_non_negative', sql`${t.unitPriceCents} >= 0`),
  ],
)

/** One row per (user, Idempotency-Key): the request's hash and the response to replay. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: uuid().notNull(),
    key: text().notNull(),
    requestHash: text().notNull(),
    responseStatus: integer().notNull(),
    responseBody: jsonb().notNull(),
    createdAt: timestampColumn().notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.key] }), index('idempotency_keys_created_at_idx').on(t.createdAt)],
)
