// Users: typed errors (code + status), mapped to the error envelope by plugins/errors.ts.
import { defineError } from '../../src/lib/errors.js'

export const EmailTakenError = defineError('EMAIL_TAKEN', 409, 'An account with this email already exists')
export const UserNotFoundError = defineError('NOT_FOUND', 404, 'User not found')
export const StaleUserError = defineError(
  'PRECONDITION_FAILED',
  412,
  'The user has changed since you read it (If-Match does not match its ETag)',
)
export const LastAdminError = defineError(
  'LAST_ADMIN',
  409,
  'This is the last active admin: it cannot be demoted, disabled or deleted (make another admin first)',
)
export const InvalidTokenError = defineError('INVALID_TOKEN', 400, 'This link is invalid, expired or already used; ask for a new one')
export const EmailNotVerifiedError = defineError(
  'EMAIL_NOT_VERIFIED',
  403,
  'Confirm your email address first (the link we sent; POST /api/v1/auth/resend-verification sends a new one)',
)
export const EmailAlreadyVerifiedError = defineError('EMAIL_ALREADY_VERIFIED', 409, 'Your email address is already verified')
