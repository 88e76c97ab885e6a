// Products' business events, published in the transaction of the change. Listings are public, so
// their creation and changes are for everyone; a removed listing only for its seller and staff.
import { Type, type Static } from '@sinclair/typebox'
import { defineEvent } from '../../plugins/events.js'
import { Id, Int, StringEnum } from '../../src/lib/schemas.js'
import { PRODUCT_STATUSES } from './tables.js'

export const ProductEventSchema = Type.Object({
  productId: Id(),
  ownerId: Id('The seller'),
  name: Type.String(),
  priceCents: Int(),
  stock: Int(),
  status: StringEnum(PRODUCT_STATUSES),
  version: Int({ minimum: 1 }),
  /** The fields the request set. */
  changes: Type.Array(Type.String()),
})
export type ProductEvent = Static<typeof ProductEventSchema>

const everyone = { public: true } as const

export const productCreated = defineEvent({
  name: 'product.created',
  description: 'A product was listed',
  schema: ProductEventSchema,
  audience: () => everyone,
  audienceText: 'everyone (listings are public)',
})

export const productUpdated = defineEvent({
  name: 'product.updated',
  description: "A product's name, description, price, stock or status was changed by its seller or staff",
  schema: ProductEventSchema,
  audience: () => everyone,
  audienceText: 'everyone (listings are public)',
})

export const productRemoved = defineEvent({
  name: 'product.removed',
  description: 'A listing was taken down (soft delete)',
  schema: ProductEventSchema,
  audience: (product) => ({ users: [product.ownerId], roles: ['moderator', 'admin'] }),
  audienceText: 'the seller, moderators and admins',
})

export default [productCreated, productUpdated, productRemoved]
