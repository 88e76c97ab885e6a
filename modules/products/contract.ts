// Products' public contract: what other modules may use, built once and decorated as `app.products`.
// Stock is reserved and restored inside the caller's transaction (pass its handle), so an order and
// its stock change commit together; the caller drops the cached copies once it has committed.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { DbOrTx } from '../../src/db/client.js'
import { newId } from '../../src/lib/ids.js'
import { createProductRepository } from './repository.js'
import { productCacheKey } from './service.js'

export type { Product } from './schemas.js'
export { productCreated, productUpdated, productRemoved, type ProductEvent } from './events.js'

export interface StockLine {
  productId: string
  quantity: number
}

export interface ReservedLine extends StockLine {
  name: string
  /** Price at the moment of the reservation. */
  unitPriceCents: number
}

export type ReserveResult =
  | { ok: true; lines: ReservedLine[] }
  /** `unavailable`: unknown, inactive or removed. The caller must roll its transaction back. */
  | { ok: false; reason: 'insufficient_stock' | 'unavailable'; productId: string; available?: number }

export interface ProductSummary {
  id: string
  ownerId: string
  name: string
  priceCents: number
  stock: number
  status: 'active' | 'inactive' | 'removed'
}

const demoCatalog: [name: string, priceCents: number, stock: number, description: string][] = [
  ['Walnut desk lamp', 4900, 25, 'Warm light, solid walnut base'],
  ['Standing desk', 39900, 5, 'Electric, 70-120 cm'],
  ['Ergonomic chair', 24900, 8, 'Mesh back, adjustable arms'],
  ['Mechanical keyboard', 8900, 40, 'Tactile switches, USB-C'],
  ['4K monitor', 32900, 12, '27 inch, IPS'],
  ['Monitor arm', 6900, 30, 'Gas spring, VESA 75/100'],
  ['Desk mat', 1900, 100, 'Felt, 90 x 40 cm'],
  ['Cable tray', 2400, 60, 'Under-desk, steel'],
  ['Webcam', 7900, 0, 'Sold out: shows how stock 0 behaves'],
  ['Noise-cancelling headphones', 19900, 15, 'Over-ear, Bluetooth'],
  ['Laptop stand', 3900, 45, 'Aluminium, foldable'],
  ['Vintage typewriter', 15000, 1, 'Inactive listing: not for sale right now'],
]

export function createProductContract(app: FastifyInstance) {
  const repo = createProductRepository()
  return {
    /**
     * Take stock for every line, inside the caller's transaction: `stock = stock - qty` only where
     * the product is active and has enough. Lines are locked in product-id order so concurrent orders
     * over the same products cannot deadlock. On failure nothing is undone here: roll the transaction back.
     */
    async reserveStock(tx: DbOrTx, lines: StockLine[]): Promise<ReserveResult> {
      const reserved = new Map<string, ReservedLine>()
      for (const line of [...lines].sort((a, b) => a.productId.localeCompare(b.productId))) {
        const row = await repo.reserve(tx, line.productId, line.quantity)
        if (!row) {
          const current = await repo.findById(tx, line.productId)
          if (!current || current.status !== 'active') return { ok: false, reason: 'unavailable', productId: line.productId }
          return { ok: false, reason: 'insufficient_stock', productId: line.productId, available: current.stock }
        }
        reserved.set(line.productId, { ...line, name: row.name, unitPriceCents: row.priceCents })
      }
      return { ok: true, lines: lines.map((l) => reserved.get(l.productId)!) } // back in the caller's order
    },

    /** Give stock back (an order cancelled), inside the caller's transaction. */
    async restoreStock(tx: DbOrTx, lines: StockLine[]): Promise<void> {
      for (const line of [...lines].sort((a, b) => a.productId.localeCompare(b.productId)))
        await repo.restore(tx, line.productId, line.quantity)
    },

    async findByIds(ids: string[], db: DbOrTx = app.db): Promise<ProductSummary[]> {
      return repo.findByIds(db, [...new Set(ids)])
    },

    /** Drop cached copies of these products; call once the transaction that changed their stock has committed. */
    async invalidate(ids: string[]): Promise<void> {
      await app.cache.del(...new Set(ids.map(productCacheKey)))
    },

    /** Demo data (first start only): a small catalog, owned in turn by the given users. */
    async seedDemoProducts(ownerIds: string[]): Promise<ProductSummary[]> {
      const rows: ProductSummary[] = []
      for (const [i, [name, priceCents, stock, description]] of demoCatalog.entries()) {
        if (ownerIds.length === 0) break
        const status = name === 'Vintage typewriter' ? 'inactive' : 'active'
        const row = await repo.insert(app.db, {
          id: newId(),
          ownerId: ownerIds[i % ownerIds.length]!,
          name,
          description,
          priceCents,
          stock,
          status,
        })
        rows.push({ id: row.id, ownerId: row.ownerId, name: row.name, priceCents: row.priceCents, stock: row.stock, status: row.status })
      }
      return rows
    },
  }
}

export type ProductContract = ReturnType<typeof createProductContract>

declare module 'fastify' {
  interface FastifyInstance {
    products: ProductContract
  }
}

export default fp(
  async (app) => {
    app.decorate('products', createProductContract(app))
  },
  {
    fastify: '5.x',
    name: 'products-contract',
    dependencies: ['db', 'cache'],
  },
)
