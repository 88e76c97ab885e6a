// The products table: a marketplace listing with its price, stock and an optimistic-concurrency version.
import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestamps, versionColumn } from '../../src/db/columns.js'

export const PRODUCT_STATUSES = ['active', 'inactive', 'removed'] as const

export const products = pgTable(
  'products',
  {
    id: idColumn(),
    ownerId: uuid().notNull(),
    name: text().notNull(),
    description: text().notNull().default(''),
    priceCents: integer().notNull(),
    stock: integer().notNull().default(0),
    status: text({ enum: PRODUCT_STATUSES }).notNull().default('active'),
    version: versionColumn(),
    ...timestamps(),
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
    // The `q` filter (name contains, case-insensitive): trigrams, so ILIKE '%lamp%' uses an index (pg_trgm).
    index('products_name_trgm_idx').using('gin', sql`${t.name} gin_trgm_ops`),
  ],
)
