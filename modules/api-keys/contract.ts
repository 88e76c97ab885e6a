// What other modules may use from api-keys, built once and decorated as `app.apiKeys`: nothing yet
// but the key's shape. It hands the auth plugin its API-key resolver: a key stands while it is known,
// unexpired (or within its rotation's grace period) and its owner is active; it acts as the owner,
// narrowed to its scopes. Nothing here exposes the table.
import fp from 'fastify-plugin'
import { rolePermissions } from '../../plugins/rbac.js'
import { createApiKeysRepository } from './repository.js'
import { createApiKeyVerifier } from './verifier.js'

export type { ApiKeyDto as ApiKey } from './schemas.js'

export default fp(
  async (app) => {
    const verify = createApiKeyVerifier({
      repo: createApiKeysRepository(app.db),
      now: () => app.clock.now(),
      lastUsedIntervalMs: app.config.API_KEY_LAST_USED_INTERVAL_SECONDS * 1000,
    })
    app.credentials.use({
      async apiKey(value) {
        const key = await verify(value)
        if (!key) return null
        const owner = await app.users.getAuthState(key.ownerId)
        if (!owner || owner.status !== 'active') return null
        const permissions = rolePermissions[owner.role].filter((p) => key.scopes.includes(p))
        return { principal: { id: owner.id, role: owner.role, permissions, apiKeyId: key.id }, key }
      },
    })
  },
  { fastify: '5.x', name: 'api-keys-contract', dependencies: ['db', 'auth', 'users-contract'] },
)
