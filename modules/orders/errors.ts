// Orders: typed errors (code + status), mapped to the error envelope by plugins/errors.ts.
import { defineError } from '../../src/lib/errors.js'

export const OrderNotFoundError = defineError('NOT_FOUND', 404, 'Order not found')
export const InsufficientStockError = defineError(
  'INSUFFICIENT_STOCK',
  409,
  'Not enough stock',
  'Not enough stock for product 01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01: 1 left',
)
export const ProductUnavailableError = defineError(
  'PRODUCT_UNAVAILABLE',
  422,
  'A product in the order is unknown or not for sale',
  'Product 01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01 does not exist or is not for sale',
)
export const InvalidOrderItemsError = defineError(
  'UNPROCESSABLE_ENTITY',
  422,
  'The order items are not valid',
  'An order needs at least one item',
)
export const IdempotencyKeyReusedError = defineError(
  'IDEMPOTENCY_KEY_REUSED',
  422,
  'This Idempotency-Key was already used with a different request body; use a new key for a new order',
)
export const OrderNotCancellableError = defineError(
  'ORDER_NOT_CANCELLABLE',
  409,
  'This order cannot be cancelled',
  'This order is already cancelled',
)
