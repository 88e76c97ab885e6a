// Turns an `X-API-Key` value into the key's owner, scopes, end and rate limit, or undefined.
// lastUsedAt is written at most once per interval per key (remembered in memory), not per request.
import type { Permission } from '../../plugins/rbac.js'
import type { ApiKeyIdentity } from '../../plugins/auth.js'
import type { DbOrTx } from '../../src/db/client.js'
import { keyMatches, keyPrefix } from './keys.js'
import { rateLimitOf } from './limits.js'
import type { ApiKeysRepository } from './repository.js'
import { LruMap } from 'toad-cache'

export interface VerifierDeps {
  db: DbOrTx
  repo: ApiKeysRepository
  /** Milliseconds since the epoch; injectable so tests can move past a grace period without sleeping. */
  now: () => number
  lastUsedIntervalMs?: number
}

const MAX_REMEMBERED = 10_000

const earliest = (a: Date | null, b: Date | null): Date | null => (a && b ? (a < b ? a : b) : (a ?? b))

export function createApiKeyVerifier({ db, repo, now, lastUsedIntervalMs = 60_000 }: VerifierDeps) {
  const lastWrite = new LruMap<number>(MAX_REMEMBERED)

  async function recordUse(id: string, at: number) {
    const previous = lastWrite.get(id)
    if (previous !== undefined && at - previous < lastUsedIntervalMs) return
    lastWrite.set(id, at)
    await repo.touchLastUsed(db, id, new Date(at))
  }

  return async function verify(key: string): Promise<ApiKeyIdentity | undefined> {
    const prefix = keyPrefix(key)
    if (!prefix) return undefined
    const row = await repo.findByPrefix(db, prefix)
    if (!row) return undefined
    const at = now()
    const current = row.prefix === prefix
    const valid = current
      ? keyMatches(key, row.secretHash)
      : row.previousPrefix === prefix &&
        row.previousSecretHash !== null &&
        row.previousValidUntil !== null &&
        row.previousValidUntil.getTime() > at &&
        keyMatches(key, row.previousSecretHash)
    if (!valid) return undefined
    if (row.expiresAt && row.expiresAt.getTime() <= at) return undefined
    await recordUse(row.id, at)
    return {
      id: row.id,
      ownerId: row.ownerId,
      scopes: row.scopes as Permission[],
      rateLimit: rateLimitOf(row),
      // The key sent stops at its expiry or, if it is the one a rotation replaced, at the grace period's end.
      expiresAt: current ? row.expiresAt : earliest(row.expiresAt, row.previousValidUntil),
    }
  }
}
