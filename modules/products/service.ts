// Products: the business rules (ownership, optimistic concurrency, cache-aside, cached list totals).
// No HTTP here: the routes translate If-Match into `expectedVersions` and errors into statuses.
import type { Db } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import { assertCanActOn, type Principal } from '../../plugins/rbac.js'
import { newId } from '../../src/lib/ids.js'
import { ValidationError, withDetails } from '../../src/lib/errors.js'
import { nextCursor, pageMeta, type ParsedList } from '../../src/lib/pagination.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import { ProductChangedError, ProductNotFoundError, StaleProductError } from './errors.js'
import type { ProductRepository, ProductRow, ProductValues } from './repository.js'
import type {
  CreateProductInput,
  PatchProductInput,
  Product,
  ProductListItem,
  ProductEvent,
  ProductEventName,
  ProductFilters,
  ReplaceProductInput,
} from './schemas.js'
import { PRODUCT_COUNT_NAMESPACE, productCacheKey } from './cache-keys.js'

export interface ProductServiceDeps {
  db: Db
  /** Lists read here (a replica when configured); single reads that feed the cache use `db`. */
  dbRead: Db
  cache: Cache
  repo: ProductRepository
  cacheTtlSeconds: number
  /** Called after a change has committed (and the cache was invalidated). */
  publish?: (name: ProductEventName, event: ProductEvent) => void | Promise<void>
}

const iso = (d: Date | undefined) => d?.toISOString()

/** A row as the API shows it (dates as ISO strings); partial rows (fields=) stay partial. */
export function toProduct(row: ProductRow): Product
export function toProduct(row: Partial<ProductRow>): Partial<Product>
export function toProduct(row: Partial<ProductRow>): Partial<Product> {
  const out: Record<string, unknown> = { ...row }
  if (row.createdAt) out.createdAt = iso(row.createdAt)
  if (row.updatedAt) out.updatedAt = iso(row.updatedAt)
  return out as Partial<Product>
}

const DATE_FIELDS = new Set(['createdAt', 'updatedAt'])

/** Cursor values back to the column types (timestamps as Dates); a tampered cursor is a 400. */
function cursorValues(list: ParsedList): unknown[] | undefined {
  if (!list.cursor?.length) return undefined // no cursor, or an empty one: from the first row
  const fields = [...list.sort.map((k) => k.field), 'id']
  return list.cursor.map((value, i) => {
    const field = fields[i]!
    const ok = DATE_FIELDS.has(field)
      ? typeof value === 'string' && !Number.isNaN(Date.parse(value))
      : field === 'priceCents' || field === 'stock'
        ? Number.isInteger(value)
        : typeof value === 'string'
    if (!ok)
      throw withDetails(new ValidationError('Invalid cursor: malformed'), [
        { field: 'cursor', message: 'malformed; start again without a cursor' },
      ])
    return DATE_FIELDS.has(field) ? new Date(value as string) : value
  })
}

export function createProductService({ db, dbRead, cache, repo, cacheTtlSeconds, publish }: ProductServiceDeps) {
  async function load(id: string): Promise<ProductRow> {
    const row = await repo.findById(db, id)
    if (!row || row.status === 'removed') throw new ProductNotFoundError()
    return row
  }

  async function afterWrite(name: ProductEventName, row: ProductRow, changes: string[]) {
    await cache.del(productCacheKey(row.id))
    await cache.invalidateCounts(PRODUCT_COUNT_NAMESPACE)
    await publish?.(name, {
      productId: row.id,
      ownerId: row.ownerId,
      version: row.version,
      status: row.status,
      changes,
      occurredAt: new Date().toISOString(),
    })
  }

  /**
   * Apply `values` if the product is still at a version the caller saw (If-Match) — and in any case
   * only if nobody changed it between our read and our write: a concurrent update is never silently lost.
   */
  async function update(principal: Principal, id: string, values: Partial<ProductValues>, expectedVersions?: number[]): Promise<Product> {
    const current = await load(id)
    assertCanActOn(principal, current.ownerId, 'write')
    if (expectedVersions && !expectedVersions.includes(current.version)) throw new StaleProductError()
    const row = await repo.update(db, id, current.version, values)
    if (!row) throw expectedVersions ? new StaleProductError() : new ProductChangedError()
    await afterWrite('product.updated', row, Object.keys(values))
    return toProduct(row)
  }

  return {
    async list(filters: ProductFilters, list: ParsedList): Promise<{ items: ProductListItem[]; meta: PageMeta }> {
      const rows = await repo.list(dbRead, filters, list, cursorValues(list))
      const more = rows.length > list.limit
      const pageRows = more ? rows.slice(0, list.limit) : rows
      const last = pageRows.at(-1)
      const cursor = more && last ? nextCursor(list.sort, last) : null
      const keep = list.fields ? new Set(['id', ...list.fields]) : undefined
      const items = pageRows.map((row) => {
        const item = toProduct(row)
        if (keep) for (const key of Object.keys(item)) if (!keep.has(key)) delete (item as Record<string, unknown>)[key]
        return item as ProductListItem
      })
      // A cursor page has no total: counting is what keyset pagination exists to avoid.
      const total = list.cursor ? undefined : await cache.count(PRODUCT_COUNT_NAMESPACE, { ...filters }, () => repo.count(dbRead, filters))
      // Offset pages: {total, page, limit, offset}; keyset pages: nextCursor instead of total.
      return { items, meta: pageMeta(list, total, list.cursor ? cursor : undefined) }
    },

    /** One product, cache-aside (removed and unknown products are 404 and not cached). */
    async get(id: string): Promise<Product> {
      return cache.wrap(productCacheKey(id), cacheTtlSeconds, async () => toProduct(await load(id)))
    },

    async create(principal: Principal, input: CreateProductInput): Promise<Product> {
      const row = await repo.insert(db, {
        id: newId(),
        ownerId: principal.id,
        name: input.name,
        description: input.description ?? '',
        priceCents: input.priceCents,
        stock: input.stock ?? 0,
        status: input.status ?? 'active',
      })
      await afterWrite('product.created', row, Object.keys(input))
      return toProduct(row)
    },

    /** `expectedVersions`: from If-Match (undefined when absent or '*'). */
    replace: (principal: Principal, id: string, input: ReplaceProductInput, expectedVersions?: number[]) =>
      update(principal, id, input, expectedVersions),

    patch: (principal: Principal, id: string, input: PatchProductInput, expectedVersions?: number[]) =>
      update(principal, id, input, expectedVersions),

    /** Take a listing down (soft delete: orders keep pointing at it); needs the `delete` permission. */
    async remove(principal: Principal, id: string): Promise<void> {
      const current = await load(id)
      assertCanActOn(principal, current.ownerId, 'delete')
      const row = await repo.update(db, id, current.version, { status: 'removed' })
      if (!row) throw new ProductChangedError()
      await afterWrite('product.removed', row, ['status'])
    },
  }
}

export type ProductService = ReturnType<typeof createProductService>
