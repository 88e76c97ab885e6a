// Auth's jobs: forget refresh tokens that expired or were revoked more than a day ago (daily).
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { JobDefinition } from '../../plugins/queue/index.js'
import { createAuthRepository } from './repository.js'

export const PURGE_AFTER_HOURS = 24

export default (app: FastifyInstance): JobDefinition[] => [
  {
    name: 'auth.purge-refresh-tokens',
    schema: Type.Object({}),
    schedule: { cron: '41 3 * * *' },
    queue: { retryLimit: 2 },
    handler: async (_data, { log }) => {
      const purged = await createAuthRepository(app.db).purgeStale(PURGE_AFTER_HOURS)
      if (purged > 0) log.info({ purged }, 'stale refresh tokens purged')
    },
  },
]
