// Audit events: typed errors (code + status), mapped to the error envelope by plugins/errors.ts.
import { defineError } from '../../src/lib/errors.js'

export const InvalidTimeRangeError = defineError('VALIDATION_ERROR', 400, 'Invalid time range: `from` must be before `to`')
