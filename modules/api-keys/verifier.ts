// Turns an `X-API-Key` value into the key's owner, scopes, end and rate limit, or undefined.
// The row found by a prefix is cached (like a user's auth state): rotating or revoking a key drops
// it (service.ts), so a key stops at once; its hash is compared, its end checked, on every request.
// lastUsedAt is written at most once per interval per key (remembered in memory), not per request.
import { LruMap } from 'toad-cache'
import type { Cache } from '../../plugins/cache.js'
import type { Permission } from '../../src/lib/permissions.js'
import type { ApiKeyIdentity } from '../../plugins/auth.js'
import type { DbOrTx } from '../../src/db/client.js'
import { keyMatches, keyPrefix } from './keys.js'
import { rateLimitOf } from './limits.js'
import type { ApiKeyRepository } from './repository.js'

export interface VerifierDeps {
  db: DbOrTx
  repo: ApiKeyRepository
  cache: Cache
  /** How long a lookup may be served from the cache. */
  ttlSeconds: number
  /** Milliseconds since the epoch; injectable so tests can move past a grace period without sleeping. */
  now: () => number
  lastUsedIntervalMs?: number
}

/** The cached lookup of a key prefix (current or previous); service.ts drops it when the key changes. */
export const apiKeyLookupKey = (prefix: string) => `api-keys:by-prefix:${prefix}`

/** What verifying a key needs of its row, as it is cached (times in ms since the epoch). */
interface Lookup {
  id: string
  ownerId: string
  prefix: string
  secretHash: string
  previousPrefix: string | null
  previousSecretHash: string | null
  previousValidUntil: number | null
  expiresAt: number | null
  scopes: string[]
  rateLimitMax: number | null
  rateLimitWindowSeconds: number | null
}

const MAX_REMEMBERED = 10_000

const dateOf = (ms: number | null): Date | null => (ms === null ? null : new Date(ms))
const earliest = (a: number | null, b: number | null): number | null => (a !== null && b !== null ? Math.min(a, b) : (a ?? b))

export function createApiKeyVerifier({ db, repo, cache, ttlSeconds, now, lastUsedIntervalMs = 60_000 }: VerifierDeps) {
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
    // An unknown prefix is not cached (undefined is never stored): made-up keys leave nothing behind.
    const row = await cache.wrap<Lookup | undefined>(apiKeyLookupKey(prefix), ttlSeconds, async () => {
      const found = await repo.findByPrefix(db, prefix)
      return (
        found && {
          id: found.id,
          ownerId: found.ownerId,
          prefix: found.prefix,
          secretHash: found.secretHash,
          previousPrefix: found.previousPrefix,
          previousSecretHash: found.previousSecretHash,
          previousValidUntil: found.previousValidUntil?.getTime() ?? null,
          expiresAt: found.expiresAt?.getTime() ?? null,
          scopes: found.scopes,
          rateLimitMax: found.rateLimitMax,
          rateLimitWindowSeconds: found.rateLimitWindowSeconds,
        }
      )
    })
    if (!row) return undefined
    const at = now()
    const current = row.prefix === prefix
    const valid = current
      ? keyMatches(key, row.secretHash)
      : row.previousPrefix === prefix &&
        row.previousSecretHash !== null &&
        row.previousValidUntil !== null &&
        row.previousValidUntil > at &&
        keyMatches(key, row.previousSecretHash)
    if (!valid) return undefined
    if (row.expiresAt !== null && row.expiresAt <= at) return undefined
    await recordUse(row.id, at)
    return {
      id: row.id,
      ownerId: row.ownerId,
      scopes: row.scopes as Permission[],
      rateLimit: rateLimitOf(row),
      // The key sent stops at its expiry or, if it is the one a rotation replaced, at the grace period's end.
      expiresAt: dateOf(current ? row.expiresAt : earliest(row.expiresAt, row.previousValidUntil)),
    }
  }
}
