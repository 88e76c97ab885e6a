// Turns an `X-API-Key` value into the key's owner, scopes and rate limit, or undefined.
// lastUsedAt is written at most once per interval per key (remembered in memory), not per request.
import type { Permission } from '../../plugins/rbac.js'
import type { ApiKeyIdentity } from '../../plugins/auth.js'
import { keyMatches, keyPrefix } from './keys.js'
import type { ApiKeysRepository } from './repository.js'

export interface ApiKeyRateLimit {
  max: number
  windowSeconds: number
}

/** A verified key, as the auth plugin carries it on `request.apiKey`. */
export type VerifiedApiKey = ApiKeyIdentity

export interface VerifierDeps {
  repo: ApiKeysRepository
  /** Milliseconds since the epoch; injectable so tests can move past a grace period without sleeping. */
  now: () => number
  lastUsedIntervalMs?: number
}

const MAX_REMEMBERED = 10_000

export const rateLimitOf = (row: { rateLimitMax: number | null; rateLimitWindowSeconds: number | null }): ApiKeyRateLimit | null =>
  row.rateLimitMax !== null && row.rateLimitWindowSeconds !== null
    ? { max: row.rateLimitMax, windowSeconds: row.rateLimitWindowSeconds }
    : null

export function createApiKeyVerifier({ repo, now, lastUsedIntervalMs = 60_000 }: VerifierDeps) {
  const lastWrite = new Map<string, number>()

  async function recordUse(id: string, at: number) {
    const previous = lastWrite.get(id)
    if (previous !== undefined && at - previous < lastUsedIntervalMs) return
    lastWrite.delete(id)
    lastWrite.set(id, at)
    if (lastWrite.size > MAX_REMEMBERED) lastWrite.delete(lastWrite.keys().next().value as string)
    await repo.touchLastUsed(id, new Date(at))
  }

  return async function verify(key: string): Promise<VerifiedApiKey | undefined> {
    const prefix = keyPrefix(key)
    if (!prefix) return undefined
    const row = await repo.findByPrefix(prefix)
    if (!row) return undefined
    const at = now()
    const valid =
      row.prefix === prefix
        ? keyMatches(key, row.secretHash)
        : row.previousPrefix === prefix &&
          row.previousSecretHash !== null &&
          row.previousValidUntil !== null &&
          row.previousValidUntil.getTime() > at &&
          keyMatches(key, row.previousSecretHash)
    if (!valid) return undefined
    if (row.expiresAt && row.expiresAt.getTime() <= at) return undefined
    await recordUse(row.id, at)
    return { id: row.id, ownerId: row.ownerId, scopes: row.scopes as Permission[], rateLimit: rateLimitOf(row), expiresAt: row.expiresAt }
  }
}
