// Products: typed errors (code + status), mapped to the error envelope by plugins/errors.ts.
import { defineError } from '../../src/lib/errors.js'

export const ProductNotFoundError = defineError('NOT_FOUND', 404, 'Product not found')
export const StaleProductError = defineError(
  'PRECONDITION_FAILED',
  412,
  'The product has changed since you read it (If-Match does not match its ETag)',
)
