// API keys: the rules. Create (the key is returned once), list, rotate with a grace period, revoke,
// and drop a deleted user's keys. A key is issued by a credential and never carries more than that
// credential has: no scope it lacks, no later end, no looser rate limit. No HTTP here.
import type { ApiKeyIdentity, Audit } from '../../plugins/auth.js'
import type { Cache } from '../../plugins/cache.js'
import { can, type Permission, type Principal } from '../../src/lib/permissions.js'
import type { Db } from '../../src/db/client.js'
import { ForbiddenError, ValidationError, withDetails } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import type { AuditWriter } from '../audit-events/contract.js'
import {
  ApiKeyLimitReachedError,
  ApiKeyNotFoundError,
  RotateOthersKeyError,
  ExpiryNotAllowedError,
  RateLimitNotAllowedError,
  ScopeNotAllowedError,
} from './errors.js'
import { generateKey } from './keys.js'
import { isWithin, rateLimitOf } from './limits.js'
import type { ApiKeyRow, ApiKeyRepository } from './repository.js'
import type { ApiKey, CreateApiKeyInput, IssuedApiKey, RateLimit } from './schemas.js'
import { apiKeyLookupKey } from './verifier.js'

export const API_KEY_COUNT_NAMESPACE = 'api-keys'

export interface ApiKeyServiceDeps {
  db: Db
  cache: Cache
  repo: ApiKeyRepository
  /** Milliseconds since the epoch (injectable for tests). */
  now: () => number
  /** How long a rotated key keeps working. */
  graceSeconds: number
  /** Keys one user may have at once. */
  maxPerUser: number
  /** The server default budget (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_SECONDS): what a key's own limit may not exceed, except an admin's. */
  defaultRateLimit: RateLimit
  audit: AuditWriter
}

/**
 * The credential a key is issued (or re-issued) by: today always a bearer session — the routes refuse
 * keys — but the rules below hold for a key too, so opening key management to keys would give none a
 * way to mint something broader, longer-lived or less limited than itself.
 */
export interface Issuer {
  principal: Principal
  /** The API key the caller authenticated with; null for a bearer session. */
  key: ApiKeyIdentity | null
}

/** The most an issuer may put in a key. */
interface Bounds {
  permissions: readonly Permission[]
  /** The latest end a key may have; null: none. */
  expiresAt: Date | null
  /** The loosest limit a key may have; null: any (an admin's session). */
  rateLimit: RateLimit | null
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const earliest = (a: Date | null, b: Date | null): Date | null => (a && b ? (a < b ? a : b) : (a ?? b))

export const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  ownerId: row.ownerId,
  name: row.name,
  prefix: `keel_${row.prefix}`,
  scopes: row.scopes as Permission[],
  expiresAt: iso(row.expiresAt),
  rateLimit: rateLimitOf(row),
  lastUsedAt: iso(row.lastUsedAt),
  version: row.version,
  createdAt: row.createdAt.toISOString(),
  rotatedAt: iso(row.rotatedAt),
  previousKeyValidUntil: iso(row.previousValidUntil),
})

export function createApiKeyService({
  db,
  cache,
  repo,
  now,
  graceSeconds,
  maxPerUser,
  defaultRateLimit,
  audit: auditTrail,
}: ApiKeyServiceDeps) {
  /** The owner and admins see a key; anyone else gets 404 (no existence probe). */
  async function load(actor: Principal, id: string): Promise<ApiKeyRow> {
    const row = await repo.findById(db, id)
    if (!row || (row.ownerId !== actor.id && !can(actor, 'admin'))) throw new ApiKeyNotFoundError()
    return row
  }

  /** After a rotation or a revocation has committed: the cached lookups of the key's prefixes (verifier.ts) go. */
  function forget(row: Pick<ApiKeyRow, 'prefix' | 'previousPrefix'>) {
    return cache.del(...[row.prefix, row.previousPrefix].filter((p) => p !== null).map(apiKeyLookupKey))
  }

  /** A key: its own permissions (already narrowed to its scopes), end and limit. A session: the user's permissions, no end, the default limit unless admin. */
  function boundsOf({ principal, key }: Issuer): Bounds {
    if (key) return { permissions: principal.permissions, expiresAt: key.expiresAt, rateLimit: key.rateLimit ?? defaultRateLimit }
    return { permissions: principal.permissions, expiresAt: null, rateLimit: can(principal, 'admin') ? null : defaultRateLimit }
  }

  return {
    /**
     * A key acting as the issuer, narrowed to `scopes` (default: all the issuer's permissions). Its end
     * defaults to the issuer's, its limit to the issuing key's own; asking for more is a 403.
     */
    async create(issuer: Issuer, input: Omit<CreateApiKeyInput, 'currentPassword'>, audit: Audit): Promise<IssuedApiKey> {
      const bounds = boundsOf(issuer)
      const scopes = input.scopes ?? [...bounds.permissions]
      const missing = scopes.filter((s) => !bounds.permissions.includes(s))
      if (missing.length > 0) throw new ScopeNotAllowedError(`You cannot grant scope(s) you do not have: ${missing.join(', ')}`)

      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : bounds.expiresAt
      if (input.expiresAt && expiresAt!.getTime() <= now()) {
        throw withDetails(new ValidationError('expiresAt must be in the future'), [
          { field: 'expiresAt', message: 'must be in the future' },
        ])
      }
      if (bounds.expiresAt && (!expiresAt || expiresAt > bounds.expiresAt)) {
        throw new ExpiryNotAllowedError(`A key issued by this key must expire by ${bounds.expiresAt.toISOString()}`)
      }

      const rateLimit = input.rateLimit ?? issuer.key?.rateLimit ?? null
      if (bounds.rateLimit && !isWithin(rateLimit ?? defaultRateLimit, bounds.rateLimit)) {
        const { max, windowSeconds } = bounds.rateLimit
        throw new RateLimitNotAllowedError(`A key's rate limit can be at most ${max} requests per ${windowSeconds} s (and no faster)`)
      }

      const owner = issuer.principal.id
      const { key, prefix, hash } = generateKey()
      const row = await db.transaction(async (tx) => {
        await repo.lockOwner(tx, owner)
        if ((await repo.countByOwner(tx, owner)) >= maxPerUser) {
          throw new ApiKeyLimitReachedError(`You already have ${maxPerUser} API keys, the most allowed; delete one first`)
        }
        const inserted = await repo.insert(tx, {
          id: newId(),
          ownerId: owner,
          name: input.name ?? null,
          prefix,
          secretHash: hash,
          scopes,
          expiresAt,
          rateLimitMax: rateLimit?.max ?? null,
          rateLimitWindowSeconds: rateLimit?.windowSeconds ?? null,
        })
        await auditTrail.record(tx, { action: 'api_key.created', subject: { type: 'api_key', id: inserted.id }, details: { scopes } })
        return inserted
      })
      await cache.invalidateCounts(API_KEY_COUNT_NAMESPACE)
      audit('api_key.created', { apiKeyId: row.id, ownerId: row.ownerId, scopes })
      return { ...toApiKey(row), key }
    },

    async get(actor: Principal, id: string): Promise<ApiKey> {
      return toApiKey(await load(actor, id))
    },

    /** The caller's keys, or (admins) another user's; the total through the count cache. */
    async list(actor: Principal, ownerId: string | undefined, list: ParsedList): Promise<{ items: ApiKey[]; meta: PageMeta }> {
      const owner = ownerId ?? actor.id
      if (owner !== actor.id && !can(actor, 'admin')) throw new ForbiddenError("Only admins can list other users' keys")
      const [rows, total] = await Promise.all([
        repo.listByOwner(db, owner, list),
        cache.count(API_KEY_COUNT_NAMESPACE, { ownerId: owner }, () => repo.countByOwner(db, owner)),
      ])
      return toPage(rows, list, toApiKey, total)
    },

    /**
     * A new secret under the same id; the old one works for the grace period. The key is re-issued
     * within the rotating credential's bounds: scopes it lacks are dropped, its end and limit are
     * tightened to the credential's own (so rotating never hands over more than the rotator has).
     */
    async rotate(issuer: Issuer, id: string, audit: Audit): Promise<IssuedApiKey> {
      const current = await load(issuer.principal, id)
      // The new secret would reach whoever rotates: never anyone but the owner (an admin may revoke instead).
      if (current.ownerId !== issuer.principal.id) throw new RotateOthersKeyError()
      const bounds = boundsOf(issuer)
      const scopes = current.scopes.filter((s) => bounds.permissions.includes(s as Permission))
      if (scopes.length === 0) throw new ScopeNotAllowedError("None of this key's scopes are yours to grant: create a new key instead")
      const limit = rateLimitOf(current)
      const rateLimit = !bounds.rateLimit || isWithin(limit ?? defaultRateLimit, bounds.rateLimit) ? limit : bounds.rateLimit
      const at = now()
      const { key, prefix, hash } = generateKey()
      const row = await db.transaction(async (tx) => {
        const rotated = await repo.rotate(tx, id, {
          prefix,
          secretHash: hash,
          previousValidUntil: graceSeconds > 0 ? new Date(at + graceSeconds * 1000) : null,
          rotatedAt: new Date(at),
          scopes,
          expiresAt: earliest(current.expiresAt, bounds.expiresAt),
          rateLimitMax: rateLimit?.max ?? null,
          rateLimitWindowSeconds: rateLimit?.windowSeconds ?? null,
        })
        if (!rotated) throw new ApiKeyNotFoundError()
        await auditTrail.record(tx, {
          action: 'api_key.rotated',
          subject: { type: 'api_key', id },
          account: rotated.ownerId,
          details: { previousKeyValidUntil: iso(rotated.previousValidUntil) },
        })
        return rotated
      })
      await forget(current)
      audit('api_key.rotated', { apiKeyId: id, ownerId: row.ownerId, previousKeyValidUntil: iso(row.previousValidUntil) })
      return { ...toApiKey(row), key }
    },

    async remove(actor: Principal, id: string, audit: Audit): Promise<void> {
      const row = await load(actor, id)
      await db.transaction(async (tx) => {
        if (!(await repo.delete(tx, id))) throw new ApiKeyNotFoundError()
        await auditTrail.record(tx, { action: 'api_key.revoked', subject: { type: 'api_key', id }, account: row.ownerId })
      })
      await Promise.all([forget(row), cache.invalidateCounts(API_KEY_COUNT_NAMESPACE)])
      audit('api_key.revoked', { apiKeyId: id, ownerId: row.ownerId })
    },

    /** A user is gone: every key of theirs goes too (they were refused from the moment the user was). */
    async removeAllOf(ownerId: string): Promise<number> {
      const removed = await repo.deleteByOwner(db, ownerId)
      if (removed.length > 0) await Promise.all([...removed.map(forget), cache.invalidateCounts(API_KEY_COUNT_NAMESPACE)])
      return removed.length
    },
  }
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>
