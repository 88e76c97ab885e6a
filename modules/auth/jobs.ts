// Auth's queues: forget sessions and refresh tokens that ended or expired more than a day ago
// (daily), and forget a deleted user's sessions (the `user.deleted` subscriber; its tokens were
// already refused at once, since the user's auth state is gone).
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { onEvent } from '../../plugins/events.js'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { userDeleted } from '../users/contract.js'
import { createAuthRepository } from './repository.js'

export const PURGE_AFTER_HOURS = 24

export default (app: FastifyInstance): JobDefinition[] => {
  const repo = createAuthRepository()
  return [
    defineJob({
      name: 'auth.purge-refresh-tokens',
      schema: Type.Object({}),
      schedule: { cron: '41 3 * * *' },
      queue: { retryLimit: 2 },
      handler: async (_data, { log }) => {
        const purged = await repo.purgeStale(app.db, PURGE_AFTER_HOURS)
        if (purged > 0) log.info({ purged }, 'stale sessions and refresh tokens purged')
      },
    }),
    onEvent(userDeleted, {
      name: 'auth.forget-user-sessions',
      handler: async ({ data }) => ({ sessions: await app.sessions.forget(data.userId) }),
    }),
  ]
}
