// The products table: a marketplace listing with its price, stock and an optimistic-concurrency version.
import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'

export const PRODUCT_STATUSES = ['active', 'inactive', 'removed'] as const

// Millisecond precision, so a timestamp survives the round trip through a JS Date and a keyset cursor.
const ts = () => timestamp({ withTimezone: true, precision: 3, mode: 'date' })

export const products = pgTable(
  'products',
  {
    id: uuid().primaryKey(),
    ownerId: uuid().notNull(),
    name: text().notNull(),
    description: text().notNull().default(''),
    priceCents: integer().notNull(),
    stock: integer().notNull().default(0),
    status: text({ enum: PRODUCT_STATUSES }).notNull().default('active'),
    version: integer().notNull().default(1),
    createdAt: ts().notNull().defaultNow(),
    updatedAt: ts().notNull().defaultNow(),
  },
  (t) => [
    check('products_stock_non_negative', sql`${t.stock} >= 0`),
    check('products_price_non_negative', sql`${t.priceCents} >= 0`),
    check('products_status_valid', sql`${t.status} in ('active', 'inactive', 'removed')`),
    // The default listing (newest first) and the same filtered by status.
    index('products_created_at_id_idx').on(t.createdAt, t.id),
    index('products_status_created_at_id_idx').on(t.status, t.createdAt, t.id),
    index('products_owner_id_created_at_idx').on(t.ownerId, t.createdAt),
    // Price ranges and sort by price; sort by name.
    index('products_price_cents_id_idx').on(t.priceCents, t.id),
    index('products_name_id_idx').on(t.name, t.id),
  ],
)
