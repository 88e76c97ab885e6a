// Typed errors of the auth module.
import { defineError } from '../../src/lib/errors.js'

export const InvalidCredentialsError = defineError('INVALID_CREDENTIALS', 401, 'Invalid email or password')
export const InvalidRefreshTokenError = defineError(
  'INVALID_REFRESH_TOKEN',
  401,
  'The refresh token is invalid, expired or revoked; log in again',
)
export const AccountDisabledError = defineError('ACCOUNT_DISABLED', 403, 'This account is disabled')
export const SessionNotFoundError = defineError('NOT_FOUND', 404, 'Session not found')
