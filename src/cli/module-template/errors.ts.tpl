// __Name__: typed errors (code + status), mapped to the error envelope by plugins/errors.ts.
import { defineError } from '../../src/lib/errors.js'

export const __Item__NotFoundError = defineError('NOT_FOUND', 404, '__Item__ not found')
export const Stale__Item__Error = defineError('PRECONDITION_FAILED', 412, 'It has changed since you read it (If-Match does not match its ETag)')
