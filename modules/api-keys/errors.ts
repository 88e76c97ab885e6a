// API keys: typed errors (code + status), mapped to the error envelope by plugins/errors.ts.
import { defineError } from '../../src/lib/errors.js'

export const ApiKeyNotFoundError = defineError('NOT_FOUND', 404, 'API key not found')
export const ScopeNotAllowedError = defineError(
  'FORBIDDEN',
  403,
  'A key cannot have a scope its issuer lacks',
  'You cannot grant scope(s) you do not have: admin',
)
export const RateLimitNotAllowedError = defineError(
  'RATE_LIMIT_TOO_HIGH',
  403,
  "A key's rate limit cannot be looser than the server default (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_SECONDS)",
  "A key's rate limit can be at most 300 requests per 60 s (and no faster)",
)
export const ExpiryNotAllowedError = defineError(
  'EXPIRY_NOT_ALLOWED',
  403,
  'A key cannot outlive the key that issues it',
  'A key issued by this key must expire by 2026-12-31T00:00:00.000Z',
)
/** Rotating hands its caller the new secret: only the key's owner may (an admin revokes instead). */
export const RotateOthersKeyError = defineError(
  'FORBIDDEN',
  403,
  "Only the key's owner can rotate it (its new secret is theirs alone); an admin may revoke it",
)
export const ApiKeyLimitReachedError = defineError(
  'API_KEY_LIMIT_REACHED',
  409,
  'You have as many API keys as allowed (API_KEYS_MAX_PER_USER); delete one first',
  'You already have 20 API keys, the most allowed; delete one first',
)
