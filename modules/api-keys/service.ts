// API keys: create (the key is returned once), list, rotate with a grace period, revoke. No HTTP here.
import { can, type Permission, type Principal } from '../../plugins/rbac.js'
import type { Audit } from '../../plugins/auth.js'
import { ForbiddenError, ValidationError, withDetails } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import type { ParsedList } from '../../src/lib/pagination.js'
import { ApiKeyNotFoundError, ScopeNotAllowedError } from './errors.js'
import { generateKey } from './keys.js'
import type { ApiKeyRow, ApiKeysRepository } from './repository.js'
import type { ApiKeyDto, ApiKeyWithSecret, CreateApiKeyInput } from './schemas.js'
import { rateLimitOf } from './verifier.js'

export interface ApiKeysServiceDeps {
  repo: ApiKeysRepository
  /** Milliseconds since the epoch (injectable for tests). */
  now: () => number
  /** How long a rotated key keeps working. */
  graceSeconds: number
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export const toDto = (row: ApiKeyRow): ApiKeyDto => ({
  id: row.id,
  ownerId: row.ownerId,
  name: row.name,
  prefix: `keel_${row.prefix}`,
  scopes: row.scopes as Permission[],
  expiresAt: iso(row.expiresAt),
  rateLimit: rateLimitOf(row),
  lastUsedAt: iso(row.lastUsedAt),
  createdAt: row.createdAt.toISOString(),
  rotatedAt: iso(row.rotatedAt),
  previousKeyValidUntil: iso(row.previousValidUntil),
})

export function createApiKeysService({ repo, now, graceSeconds }: ApiKeysServiceDeps) {
  /** The owner and admins see a key; anyone else gets 404 (no existence probe). */
  async function load(actor: Principal, id: string): Promise<ApiKeyRow> {
    const row = await repo.findById(id)
    if (!row || (row.ownerId !== actor.id && !can(actor, 'admin'))) throw new ApiKeyNotFoundError()
    return row
  }

  return {
    async create(actor: Principal, input: CreateApiKeyInput, audit: Audit): Promise<ApiKeyWithSecret> {
      const scopes = input.scopes ?? [...actor.permissions]
      const missing = scopes.filter((s) => !actor.permissions.includes(s))
      if (missing.length > 0) throw new ScopeNotAllowedError(`You cannot grant scope(s) you do not have: ${missing.join(', ')}`)
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null
      if (expiresAt && expiresAt.getTime() <= now()) {
        throw withDetails(new ValidationError('expiresAt must be in the future'), [
          { field: 'expiresAt', message: 'must be in the future' },
        ])
      }
      const { key, prefix, hash } = generateKey()
      const row = await repo.insert({
        id: newId(),
        ownerId: actor.id,
        name: input.name ?? null,
        prefix,
        secretHash: hash,
        scopes,
        expiresAt,
        rateLimitMax: input.rateLimit?.max ?? null,
        rateLimitWindowSeconds: input.rateLimit?.windowSeconds ?? null,
      })
      audit('api_key.created', { apiKeyId: row.id, ownerId: row.ownerId, scopes })
      return { ...toDto(row), key }
    },

    async list(actor: Principal, ownerId: string | undefined, list: ParsedList): Promise<{ items: ApiKeyDto[]; total: number }> {
      const owner = ownerId ?? actor.id
      if (owner !== actor.id && !can(actor, 'admin')) throw new ForbiddenError("Only admins can list other users' keys")
      const [rows, total] = await Promise.all([repo.listByOwner(owner, list), repo.countByOwner(owner)])
      return { items: rows.map(toDto), total }
    },

    async rotate(actor: Principal, id: string, audit: Audit): Promise<ApiKeyWithSecret> {
      await load(actor, id)
      const at = now()
      const { key, prefix, hash } = generateKey()
      const row = await repo.rotate(id, {
        prefix,
        secretHash: hash,
        previousValidUntil: graceSeconds > 0 ? new Date(at + graceSeconds * 1000) : null,
        rotatedAt: new Date(at),
      })
      if (!row) throw new ApiKeyNotFoundError()
      audit('api_key.rotated', { apiKeyId: id, ownerId: row.ownerId, previousKeyValidUntil: iso(row.previousValidUntil) })
      return { ...toDto(row), key }
    },

    async remove(actor: Principal, id: string, audit: Audit): Promise<void> {
      const row = await load(actor, id)
      if (!(await repo.delete(id))) throw new ApiKeyNotFoundError()
      audit('api_key.revoked', { apiKeyId: id, ownerId: row.ownerId })
    },
  }
}

export type ApiKeysService = ReturnType<typeof createApiKeysService>
