// Orders' business events, published in the order's own transaction. An order is private to its
// buyer: its events go to the buyer and to staff (moderators and admins), never to other users.
import { Type, type Static } from '@sinclair/typebox'
import { defineEvent, type Audience } from '../../plugins/events.js'
import { OrderItemSchema, OrderSchema } from './schemas.js'

/** The order as events carry it: the API's fields, self-contained (no $ref). */
export const OrderEventSchema = Type.Object({ ...OrderSchema.properties, items: Type.Array(Type.Object(OrderItemSchema.properties)) })
export type OrderEvent = Static<typeof OrderEventSchema>

const buyerAndStaff = (order: { userId: string }): Audience => ({ users: [order.userId], roles: ['moderator', 'admin'] })

export const orderCreated = defineEvent({
  name: 'order.created',
  description: 'An order was placed (its stock taken): the order with its items and total',
  schema: OrderEventSchema,
  audience: buyerAndStaff,
  audienceText: 'the buyer, moderators and admins',
})

export const orderCancelled = defineEvent({
  name: 'order.cancelled',
  description: 'An order was cancelled and its stock given back',
  schema: OrderEventSchema,
  audience: buyerAndStaff,
  audienceText: 'the buyer, moderators and admins',
})

export default [orderCreated, orderCancelled]
