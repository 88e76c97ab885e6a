// __Name__ errors.
import { defineError } from '../../src/lib/errors.js'

export const __Item__NotFound = defineError('NOT_FOUND', 404, '__Item__ not found')
