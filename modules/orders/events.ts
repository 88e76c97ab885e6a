// Orders' business events, published in the order's own transaction. An order is private to its
// buyer: its events go to the buyer and to staff (moderators and admins), never to other users.
import { Type } from '@sinclair/typebox'
import { defineEvent, type Audience } from '../../plugins/events.js'
import { OrderSchema, type Order } from './schemas.js'

const buyerAndStaff = (order: Order): Audience => ({ users: [order.userId], roles: ['moderator', 'admin'] })
// The order as the API shows it (the named component's properties, without its $id).
const OrderEventSchema = Type.Object(OrderSchema.properties)

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
