// Products: the only code that touches the products table. Explicit columns; every function takes
// the Drizzle handle to use (the pool, the read replica or a transaction), so transactions pass through.
import { and, count, eq, gte, inArray, lte, ne, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { containsText } from '../../src/db/filters.js'
import { keysetWhere, orderBy, pickColumns, type ParsedList } from '../../src/lib/pagination.js'
import { products } from './tables.js'
import type { ProductFilters } from './schemas.js'

export const productColumns = {
  id: products.id,
  ownerId: products.ownerId,
  name: products.name,
  description: products.description,
  priceCents: products.priceCents,
  stock: products.stock,
  status: products.status,
  version: products.version,
  createdAt: products.createdAt,
  updatedAt: products.updatedAt,
}

export type ProductRow = typeof products.$inferSelect
export type ProductValues = Pick<typeof products.$inferInsert, 'name' | 'description' | 'priceCents' | 'stock' | 'status'>

function whereOf(f: ProductFilters): SQL | undefined {
  return and(
    f.status ? eq(products.status, f.status) : ne(products.status, 'removed'),
    f.q ? containsText(f.q, products.name) : undefined,
    f.minPrice !== undefined ? gte(products.priceCents, f.minPrice) : undefined,
    f.maxPrice !== undefined ? lte(products.priceCents, f.maxPrice) : undefined,
    f.ownerId ? eq(products.ownerId, f.ownerId) : undefined,
  )
}

export function createProductRepository() {
  return {
    async insert(db: DbOrTx, values: ProductValues & { id: string; ownerId: string }): Promise<ProductRow> {
      const [row] = await db.insert(products).values(values).returning(productColumns)
      return row!
    },

    async findById(db: DbOrTx, id: string): Promise<ProductRow | undefined> {
      const [row] = await db.select(productColumns).from(products).where(eq(products.id, id))
      return row
    },

    /** One page plus one row (to tell whether a next page exists); with `fields`, only those columns (and the sort keys). */
    async list(db: DbOrTx, filters: ProductFilters, list: ParsedList): Promise<Partial<ProductRow>[]> {
      return db
        .select(pickColumns(productColumns, list))
        .from(products)
        .where(and(whereOf(filters), keysetWhere(list, productColumns, products.id)))
        .orderBy(...orderBy(list.sort, productColumns, products.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async count(db: DbOrTx, filters: ProductFilters): Promise<number> {
      const [row] = await db.select({ n: count() }).from(products).where(whereOf(filters))
      return row?.n ?? 0
    },

    /**
     * Write the named fields of a listed product (bumping its version); with `versions` (If-Match),
     * only while it is at one of them. Undefined when no row matched (removed, or moved on).
     */
    async update(db: DbOrTx, id: string, values: Partial<ProductValues>, versions?: number[]): Promise<ProductRow | undefined> {
      const [row] = await db
        .update(products)
        .set({ ...values, version: sql`${products.version} + 1`, updatedAt: sql`now()` })
        .where(and(eq(products.id, id), ne(products.status, 'removed'), versions ? inArray(products.version, versions) : undefined))
        .returning(productColumns)
      return row
    },

    /** Take `quantity` units if the product is active and has them; its price, or undefined. */
    async reserve(db: DbOrTx, id: string, quantity: number): Promise<{ id: string; name: string; priceCents: number } | undefined> {
      const [row] = await db
        .update(products)
        .set({ stock: sql`${products.stock} - ${quantity}`, version: sql`${products.version} + 1`, updatedAt: sql`now()` })
        .where(and(eq(products.id, id), gte(products.stock, quantity), eq(products.status, 'active')))
        .returning({ id: products.id, name: products.name, priceCents: products.priceCents })
      return row
    },

    async restore(db: DbOrTx, id: string, quantity: number): Promise<void> {
      await db
        .update(products)
        .set({ stock: sql`${products.stock} + ${quantity}`, version: sql`${products.version} + 1`, updatedAt: sql`now()` })
        .where(eq(products.id, id))
    },

    async findByIds(db: DbOrTx, ids: string[]) {
      if (ids.length === 0) return []
      return (
        db
          .select({
            id: products.id,
            ownerId: products.ownerId,
            name: products.name,
            priceCents: products.priceCents,
            stock: products.stock,
            status: products.status,
          })
          .from(products)
          // `= any($1)` with one array parameter: the same prepared statement whatever the number of ids.
          .where(sql`${products.id} = any(${sql.param(ids)}::uuid[])`)
          .orderBy(products.id)
      )
    },
  }
}

export type ProductRepository = ReturnType<typeof createProductRepository>
