// What other modules may use from api-keys: the key's type — nothing else so far, so nothing is
// decorated on the root. Its plugin hands the auth plugin the API-key resolver: a key stands while it
// is known, unexpired (or within its rotation's grace period) and its owner exists and is active; it
// acts as the owner, narrowed to its scopes, with its own rate limit — unless the owner is no admin
// and that limit is looser than the server default (the owner was demoted, the default lowered):
// then the default applies. Nothing here exposes the table.
import fp from 'fastify-plugin'
import { rolePermissions } from '../../src/lib/permissions.js'
import { isWithin } from './limits.js'
import { createApiKeyRepository } from './repository.js'
import { createApiKeyVerifier } from './verifier.js'

export type { ApiKey } from './schemas.js'

export default fp(
  async (app) => {
    const verify = createApiKeyVerifier({
      db: app.db,
      repo: createApiKeyRepository(),
      cache: app.cache,
      ttlSeconds: app.config.AUTH_STATE_CACHE_TTL_SECONDS,
      now: () => app.clock.now(),
      lastUsedIntervalMs: app.config.API_KEY_LAST_USED_INTERVAL_SECONDS * 1000,
    })
    const defaultLimit = { max: app.config.RATE_LIMIT_MAX, windowSeconds: app.config.RATE_LIMIT_WINDOW_SECONDS }
    app.credentials.use({
      async apiKey(value) {
        const key = await verify(value)
        if (!key) return null
        const owner = await app.users.getAuthState(key.ownerId)
        if (!owner || owner.status !== 'active') return null
        const permissions = rolePermissions[owner.role].filter((p) => key.scopes.includes(p))
        const rateLimit = key.rateLimit && (owner.role === 'admin' || isWithin(key.rateLimit, defaultLimit)) ? key.rateLimit : null
        return { principal: { id: owner.id, role: owner.role, permissions, apiKeyId: key.id }, key: { ...key, rateLimit } }
      },
    })
  },
  { fastify: '5.x', name: 'api-keys-contract', dependencies: ['db', 'cache', 'auth', 'users-contract'] },
)
