// What the auth plugin (and the rate limiter) may use from api-keys: the key verifier and a key's
// own rate-limit settings. Nothing here exposes the table.
import type { Db } from '../../src/db/client.js'
import { createApiKeysRepository } from './repository.js'
import { createApiKeyVerifier as createVerifier, rateLimitOf } from './verifier.js'

export type { ApiKeyRateLimit, VerifiedApiKey } from './verifier.js'

/** The HTTP header a key is sent in. */
export const API_KEY_HEADER = 'x-api-key'

export interface ApiKeyVerifierOptions {
  db: Db
  /** Milliseconds since the epoch; tests inject a clock to pass a rotation's grace period. */
  now: () => number
  /** lastUsedAt is written at most once per this interval per key (default one minute). */
  lastUsedIntervalMs?: number
}

/** `verify(key)` → the key's id, owner, scopes and rate limit, or undefined (unknown, revoked, expired, past its grace). */
export function createApiKeyVerifier({ db, now, lastUsedIntervalMs }: ApiKeyVerifierOptions) {
  return createVerifier({ repo: createApiKeysRepository(db), now, lastUsedIntervalMs })
}

/** A key's own rate limit ({max, windowSeconds}), or null when it uses the default one. */
export async function getApiKeyRateLimit(db: Db, apiKeyId: string) {
  const row = await createApiKeysRepository(db).findById(apiKeyId)
  return row ? rateLimitOf(row) : null
}
