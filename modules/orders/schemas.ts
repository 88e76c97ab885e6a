// Orders: request and response shapes (TypeBox), the list spec, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { UUID_PATTERN } from '../../src/lib/ids.js'

const Uuid = (description?: string) => Type.String({ format: 'uuid', pattern: UUID_PATTERN, description })
const OrderStatus = Type.Union([Type.Literal('pending'), Type.Literal('confirmed'), Type.Literal('cancelled')])

export const OrderItemSchema = Type.Object({
  productId: Uuid(),
  productName: Type.String({ description: 'Name at purchase time' }),
  quantity: Type.Integer({ minimum: 1 }),
  unitPriceCents: Type.Integer({ minimum: 0, description: 'Price at purchase time, integer cents' }),
})

export const OrderSchema = Type.Object(
  {
    id: Uuid(),
    userId: Uuid('The buyer'),
    status: OrderStatus,
    totalCents: Type.Integer({ minimum: 0 }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    items: Type.Array(OrderItemSchema),
  },
  { description: 'An order with its items' },
)
export type Order = Static<typeof OrderSchema>
export type OrderItem = Static<typeof OrderItemSchema>

export const CreateOrderBody = Type.Object(
  {
    // Emptiness and duplicates are checked by the service (422), not here (400).
    items: Type.Array(
      Type.Object({ productId: Uuid(), quantity: Type.Integer({ minimum: 1, maximum: 10_000 }) }, { additionalProperties: false }),
      { maxItems: 100, description: 'At least one line; each product at most once' },
    ),
  },
  { additionalProperties: false },
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
    }),
  ),
})

export const OrderParams = Type.Object({ id: Uuid('Order id') })

export const orderList = defineList({
  sort: { createdAt: 'timestamp', totalCents: 'integer' },
  defaultSort: '-createdAt',
  filters: {
    status: Type.Optional(OrderStatus),
    userId: Type.Optional(Uuid('Only this buyer (moderators and admins; a user always sees only their own)')),
  },
})
export type OrderFilters = FiltersOf<typeof orderList>
