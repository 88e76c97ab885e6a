// Products: the business rules (ownership, optimistic concurrency, cache-aside, cached list totals,
// events). No HTTP here: the routes read If-Match into `versions` and the error handler maps errors.
import type { Db } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import type { Events } from '../../plugins/events.js'
import { assertCanActOn, type Principal } from '../../src/lib/permissions.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import { ProductNotFoundError, StaleProductError } from './errors.js'
import { productCreated, productRemoved, productUpdated, type ProductEvent } from './events.js'
import type { ProductRepository, ProductRow, ProductValues } from './repository.js'
import type { CreateProductInput, PatchProductInput, Product, ProductFilters, ProductListItem, ReplaceProductInput } from './schemas.js'

export const PRODUCT_COUNT_NAMESPACE = 'products'
export const productCacheKey = (id: string) => `products:${id}`

export interface ProductServiceDeps {
  db: Db
  /** Lists read here (a replica when configured); single reads that feed the cache use `db`. */
  dbRead: Db
  cache: Cache
  events: Events
  repo: ProductRepository
  cacheTtlSeconds: number
}

/** A row as the API shows it (dates as ISO strings); partial rows (fields=) stay partial. */
export function toProduct(row: ProductRow): Product
export function toProduct(row: Partial<ProductRow>): Partial<Product>
export function toProduct(row: Partial<ProductRow>): Partial<Product> {
  const out: Record<string, unknown> = { ...row }
  if (row.createdAt) out.createdAt = row.createdAt.toISOString()
  if (row.updatedAt) out.updatedAt = row.updatedAt.toISOString()
  return out as Partial<Product>
}

const eventOf = (row: ProductRow, changes: string[]): ProductEvent => ({
  productId: row.id,
  ownerId: row.ownerId,
  name: row.name,
  priceCents: row.priceCents,
  stock: row.stock,
  status: row.status,
  version: row.version,
  changes,
})

export function createProductService({ db, dbRead, cache, events, repo, cacheTtlSeconds }: ProductServiceDeps) {
  async function load(id: string): Promise<ProductRow> {
    const row = await repo.findById(db, id)
    if (!row || row.status === 'removed') throw new ProductNotFoundError()
    return row
  }

  /** After a change has committed: drop the cached copy and every cached list total. */
  async function invalidate(id: string) {
    await Promise.all([cache.del(productCacheKey(id)), cache.invalidateCounts(PRODUCT_COUNT_NAMESPACE)])
  }

  /**
   * Write the named fields. With If-Match (`versions`), only to a version the caller saw (412
   * otherwise); without it, the write applies to the current version: fields the request does not
   * name (the stock that orders take, say) are left as they are, so nothing is lost.
   */
  async function update(principal: Principal, id: string, values: Partial<ProductValues>, versions?: number[]): Promise<Product> {
    const current = await load(id)
    assertCanActOn(principal, current.ownerId, 'write')
    if (versions && !versions.includes(current.version)) throw new StaleProductError()
    const row = await db.transaction(async (tx) => {
      const updated = await repo.update(tx, id, values, versions)
      if (!updated) throw versions ? new StaleProductError() : new ProductNotFoundError()
      await events.publish(productUpdated, eventOf(updated, Object.keys(values)), { tx })
      return updated
    })
    await invalidate(id)
    return toProduct(row)
  }

  return {
    async list(filters: ProductFilters, list: ParsedList): Promise<{ items: ProductListItem[]; meta: PageMeta }> {
      // The page and its total at once. A keyset page has no total: counting is what cursor pagination exists to avoid.
      const [rows, total] = await Promise.all([
        repo.list(dbRead, filters, list),
        list.cursor ? undefined : cache.count(PRODUCT_COUNT_NAMESPACE, filters, () => repo.count(dbRead, filters)),
      ])
      // Rows always carry the id (pickColumns keeps it); the other fields are there unless `fields` left them out.
      return toPage(rows, list, (row) => toProduct(row) as ProductListItem, total)
    },

    /** One product, cache-aside (removed and unknown products are 404 and not cached). */
    async get(id: string): Promise<Product> {
      return cache.wrap(productCacheKey(id), cacheTtlSeconds, async () => toProduct(await load(id)))
    },

    async create(principal: Principal, input: CreateProductInput): Promise<Product> {
      const row = await db.transaction(async (tx) => {
        const created = await repo.insert(tx, {
          id: newId(),
          ownerId: principal.id,
          name: input.name,
          description: input.description ?? '',
          priceCents: input.priceCents,
          stock: input.stock ?? 0,
          status: input.status ?? 'active',
        })
        await events.publish(productCreated, eventOf(created, Object.keys(input)), { tx })
        return created
      })
      await cache.invalidateCounts(PRODUCT_COUNT_NAMESPACE)
      return toProduct(row)
    },

    /** PUT: every field; `versions` from If-Match (undefined: no precondition). */
    replace: (principal: Principal, id: string, input: ReplaceProductInput, versions?: number[]) => update(principal, id, input, versions),

    /** PATCH: only the fields sent. */
    patch: (principal: Principal, id: string, input: PatchProductInput, versions?: number[]) => update(principal, id, input, versions),

    /** Take a listing down (soft delete: orders keep pointing at it); needs the `delete` permission. */
    async remove(principal: Principal, id: string): Promise<void> {
      const current = await load(id)
      assertCanActOn(principal, current.ownerId, 'delete')
      await db.transaction(async (tx) => {
        const row = await repo.update(tx, id, { status: 'removed' })
        if (!row) throw new ProductNotFoundError()
        await events.publish(productRemoved, eventOf(row, ['status']), { tx })
      })
      await invalidate(id)
    },
  }
}

export type ProductService = ReturnType<typeof createProductService>
