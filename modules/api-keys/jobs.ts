// API keys' subscriptions: a deleted user's keys are deleted with it. (They are refused from the
// moment the user is gone — the key resolver asks for the owner on every request — this removes the rows.)
import type { FastifyInstance } from 'fastify'
import { onEvent } from '../../plugins/events.js'
import type { JobDefinition } from '../../plugins/queue/index.js'
import { userDeleted } from '../users/contract.js'
import { apiKeyServiceDeps } from './index.js'
import { createApiKeyService } from './service.js'

export default (app: FastifyInstance): JobDefinition[] => {
  const service = createApiKeyService(apiKeyServiceDeps(app))
  return [
    onEvent(userDeleted, {
      name: 'api-keys.user-deleted',
      handler: async ({ data }) => ({ deleted: await service.removeAllOf(data.userId) }),
    }),
  ]
}
