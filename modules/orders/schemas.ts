// Orders: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components),
// the list definition, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Id, Int, Money, Ref, StringEnum, Timestamp } from '../../src/lib/schemas.js'
import { ORDER_STATUSES } from './tables.js'

const OrderStatus = StringEnum(ORDER_STATUSES, {
  description: 'New orders are `confirmed` (their stock is taken in the same transaction); `cancelled` gave it back',
})
const Quantity = Int({ minimum: 1, maximum: 10_000, description: 'Units of the product', examples: [2] })

const exampleItem = {
  productId: '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01',
  productName: 'Walnut desk lamp',
  quantity: 2,
  unitPriceCents: 4900,
}
const example = {
  id: '01936b90-1f2e-7a3b-8c4d-5e6f7a8b9c0d',
  userId: '01936b8e-5a10-7c3d-8e2f-1a2b3c4d5e6f',
  status: 'confirmed',
  totalCents: 9800,
  version: 1,
  createdAt: '2026-11-29T10:15:00.000Z',
  updatedAt: '2026-11-29T10:15:00.000Z',
  items: [exampleItem],
}

// The properties once, so the order.created/cancelled payload (checked by TypeBox, without $refs)
// and the named components (checked by Fastify, with $refs) cannot drift apart.
const orderItemProperties = {
  productId: Id('The product'),
  productName: Type.String({ description: 'Its name at purchase time', examples: ['Walnut desk lamp'] }),
  quantity: Quantity,
  unitPriceCents: Money('Its price at purchase time, integer cents'),
}
const orderProperties = {
  id: Id(),
  userId: Id('The buyer'),
  status: OrderStatus,
  totalCents: Money('Sum of quantity × unit price, integer cents'),
  version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
  createdAt: Timestamp(),
  updatedAt: Timestamp('When it was last changed (cancelled)'),
}

export const OrderItemSchema = Type.Object(orderItemProperties, {
  $id: 'OrderItem',
  description: 'One line of an order, with the name and price the product had when it was bought',
  examples: [exampleItem],
})
export type OrderItem = Static<typeof OrderItemSchema>

export const OrderSchema = Type.Object(
  { ...orderProperties, items: Type.Array(Ref(OrderItemSchema)) },
  { $id: 'Order', description: 'An order with its items', examples: [example] },
)
export type Order = Static<typeof OrderSchema>

export const CreateOrderBody = Type.Object(
  {
    // Emptiness and duplicates are checked by the service (422), not here (400).
    items: Type.Array(Type.Object({ productId: Id('The product'), quantity: Quantity }, { additionalProperties: false }), {
      maxItems: 100,
      description: 'At least one line; each product at most once',
    }),
  },
  {
    $id: 'CreateOrderRequest',
    additionalProperties: false,
    description: 'The products to buy and how many of each',
    examples: [{ items: [{ productId: exampleItem.productId, quantity: 2 }] }],
  },
)
export type CreateOrderInput = Static<typeof CreateOrderBody>

export const CreateOrderHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7e]+$',
      description:
        'Any unique string (e.g. a UUID). Retrying with the same key and body returns the first response; a different body is a 422.',
      examples: ['0f8fad5b-d9cb-469f-a165-70867728950e'],
    }),
  ),
})

export const OrderParams = Type.Object({ id: Id('Order id') })

export const orderList = defineList({
  sort: { createdAt: 'timestamp', totalCents: 'integer' },
  defaultSort: '-createdAt',
  filters: {
    status: Type.Optional(OrderStatus),
    userId: Type.Optional(Id('Only this buyer (moderators and admins; a user always sees only their own)')),
  },
})
export type OrderFilters = FiltersOf<typeof orderList>

export const { response: OrderResponse, page: OrderPage } = envelopes(OrderSchema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const orderSchemas = [OrderItemSchema, OrderSchema, OrderResponse, OrderPage, CreateOrderBody]
