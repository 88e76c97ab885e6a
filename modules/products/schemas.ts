// Products: request and response shapes (TypeBox), the list spec, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { ListQuery, type ListSpec } from '../../src/lib/pagination.js'
import { UUID_PATTERN } from '../../src/lib/ids.js'

const Uuid = (description?: string) => Type.String({ format: 'uuid', pattern: UUID_PATTERN, description })
const Name = Type.String({ minLength: 1, maxLength: 200, description: 'Product name' })
const Description = Type.String({ maxLength: 5000, description: 'Free text' })
const PriceCents = Type.Integer({ minimum: 0, maximum: 100_000_000, description: 'Price in integer cents' })
const Stock = Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Units available' })
// 'removed' is set only by DELETE (a moderator taking a listing down).
const EditableStatus = Type.Union([Type.Literal('active'), Type.Literal('inactive')], {
  description: 'Only active products can be ordered',
})

export const ProductSchema = Type.Object(
  {
    id: Uuid(),
    ownerId: Uuid('The seller'),
    name: Name,
    description: Description,
    priceCents: PriceCents,
    stock: Stock,
    status: EditableStatus,
    version: Type.Integer({ minimum: 1, description: 'Increases on every change; the ETag' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A product listing' },
)
export type Product = Static<typeof ProductSchema>

/** A list item: with `fields=`, only the id and the fields asked for. */
export const ProductListItemSchema = Type.Composite([Type.Pick(ProductSchema, ['id']), Type.Partial(Type.Omit(ProductSchema, ['id']))])
export type ProductListItem = Static<typeof ProductListItemSchema>

export const CreateProductBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    priceCents: PriceCents,
    stock: Type.Optional(Stock),
    status: Type.Optional(EditableStatus),
  },
  { additionalProperties: false },
)
export type CreateProductInput = Static<typeof CreateProductBody>

/** PUT: every editable field is required (a full replace). */
export const ReplaceProductBody = Type.Object(
  { name: Name, description: Description, priceCents: PriceCents, stock: Stock, status: EditableStatus },
  { additionalProperties: false },
)
export type ReplaceProductInput = Static<typeof ReplaceProductBody>

export const PatchProductBody = Type.Partial(ReplaceProductBody, { additionalProperties: false, minProperties: 1 })
export type PatchProductInput = Static<typeof PatchProductBody>

export const ProductParams = Type.Object({ id: Uuid('Product id') })

export const productListSpec = {
  sort: ['createdAt', 'priceCents', 'name', 'stock'],
  defaultSort: '-createdAt',
  fields: ['ownerId', 'name', 'description', 'priceCents', 'stock', 'status', 'version', 'createdAt', 'updatedAt'],
  cursor: true,
} as const satisfies ListSpec

export const ProductListQuery = ListQuery(productListSpec, {
  status: Type.Optional(EditableStatus),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive substring of the name' })),
  minPrice: Type.Optional(Type.Integer({ minimum: 0, description: 'priceCents >= minPrice' })),
  maxPrice: Type.Optional(Type.Integer({ minimum: 0, description: 'priceCents <= maxPrice' })),
  ownerId: Type.Optional(Uuid('Only this seller')),
})
export type ProductListQueryInput = Static<typeof ProductListQuery>

export interface ProductFilters {
  status?: 'active' | 'inactive'
  q?: string
  minPrice?: number
  maxPrice?: number
  ownerId?: string
}

export type ProductEventName = 'product.created' | 'product.updated' | 'product.removed'

/** Payload of the product.* events (published after commit). */
export interface ProductEvent {
  productId: string
  ownerId: string
  version: number
  status: 'active' | 'inactive' | 'removed'
  /** Fields the request set (for product.updated). */
  changes: string[]
  occurredAt: string
}
