// Typed errors of the users module.
import { defineError } from '../../src/lib/errors.js'

export const EmailTakenError = defineError('EMAIL_TAKEN', 409, 'An account with this email already exists')
export const UserNotFoundError = defineError('NOT_FOUND', 404, 'User not found')
