// Products: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components),
// the list definition, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Id, Int, SafeString, SafeText, StringEnum, Timestamp } from '../../src/lib/schemas.js'

const Name = SafeString({ minLength: 1, maxLength: 200, description: 'Product name', examples: ['Walnut desk lamp'] })
const Description = SafeText({ maxLength: 5000, description: 'Free text', examples: ['Warm light, solid walnut base'] })
const PriceCents = Int({ maximum: 100_000_000, description: 'Price in integer cents (at most 1,000,000.00)', examples: [4900] })
const Stock = Int({ maximum: 1_000_000_000, description: 'Units available', examples: [25] })
// 'removed' is set only by DELETE (a moderator taking a listing down).
const EditableStatus = StringEnum(['active', 'inactive'], { description: 'Only active products can be ordered' })

const example = {
  id: '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01',
  ownerId: '01936b8e-5a10-7c3d-8e2f-1a2b3c4d5e6f',
  name: 'Walnut desk lamp',
  description: 'Warm light, solid walnut base',
  priceCents: 4900,
  stock: 25,
  status: 'active',
  version: 3,
  createdAt: '2026-11-29T10:15:00.000Z',
  updatedAt: '2026-11-29T11:02:31.250Z',
}

export const ProductSchema = Type.Object(
  {
    id: Id(),
    ownerId: Id('The seller'),
    name: Name,
    description: Description,
    priceCents: PriceCents,
    stock: Stock,
    status: EditableStatus,
    version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { $id: 'Product', description: 'A product listing', examples: [example] },
)
export type Product = Static<typeof ProductSchema>

/** A list item: with `fields=`, only the id and the fields asked for. */
export const ProductListItemSchema = Type.Composite([Type.Pick(ProductSchema, ['id']), Type.Partial(Type.Omit(ProductSchema, ['id']))], {
  $id: 'ProductListItem',
  description: 'A product in a list: every field, or only the id and those named in `fields`',
  examples: [{ id: example.id, name: example.name, priceCents: example.priceCents }],
})
export type ProductListItem = Static<typeof ProductListItemSchema>

export const CreateProductBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    priceCents: PriceCents,
    stock: Type.Optional({ ...Stock, default: 0 }),
    status: Type.Optional({ ...EditableStatus, default: 'active' }),
  },
  {
    $id: 'CreateProductRequest',
    additionalProperties: false,
    description: 'A new listing; you are its owner',
    examples: [{ name: 'Walnut desk lamp', description: 'Warm light, solid walnut base', priceCents: 4900, stock: 25 }],
  },
)
export type CreateProductInput = Static<typeof CreateProductBody>

/** PUT: every editable field is required (a full replace). */
export const ReplaceProductBody = Type.Object(
  { name: Name, description: Description, priceCents: PriceCents, stock: Stock, status: EditableStatus },
  {
    $id: 'ReplaceProductRequest',
    additionalProperties: false,
    description: 'Every editable field (a full replace)',
    examples: [{ name: 'Walnut desk lamp', description: 'Warm light, solid walnut base', priceCents: 5400, stock: 20, status: 'active' }],
  },
)
export type ReplaceProductInput = Static<typeof ReplaceProductBody>

export const PatchProductBody = Type.Partial(ReplaceProductBody, {
  $id: 'UpdateProductRequest',
  additionalProperties: false,
  minProperties: 1,
  description: 'Only the fields to change',
  examples: [{ priceCents: 5400 }],
})
export type PatchProductInput = Static<typeof PatchProductBody>

export const ProductParams = Type.Object({ id: Id('Product id') })

export const productList = defineList({
  sort: { createdAt: 'timestamp', priceCents: 'integer', name: 'text', stock: 'integer' },
  defaultSort: '-createdAt',
  fields: ['ownerId', 'name', 'description', 'priceCents', 'stock', 'status', 'version', 'createdAt', 'updatedAt'],
  cursor: true,
  filters: {
    status: Type.Optional(EditableStatus),
    q: Type.Optional(
      SafeString({ minLength: 1, maxLength: 100, description: 'Case-insensitive substring of the name', examples: ['lamp'] }),
    ),
    minPrice: Type.Optional(Int({ maximum: 100_000_000, description: 'priceCents >= minPrice' })),
    maxPrice: Type.Optional(Int({ maximum: 100_000_000, description: 'priceCents <= maxPrice' })),
    ownerId: Type.Optional(Id('Only this seller')),
  },
})
export type ProductFilters = FiltersOf<typeof productList>

export const { response: ProductResponse, page: ProductPage } = envelopes(ProductSchema, ProductListItemSchema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const productSchemas = [
  ProductSchema,
  ProductListItemSchema,
  ProductResponse,
  ProductPage,
  CreateProductBody,
  ReplaceProductBody,
  PatchProductBody,
]
