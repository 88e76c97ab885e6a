// Users' queues: the password-reset link, sent in the background so that POST /auth/forgot-password
// answers alike (same body, same work) whether or not the address has an account.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { PASSWORD_RESET_QUEUE } from './service.js'

export default (app: FastifyInstance): JobDefinition[] => [
  defineJob({
    name: PASSWORD_RESET_QUEUE,
    schema: Type.Object({ email: Type.String({ maxLength: 254 }) }),
    queue: { retryLimit: 3, retryBackoff: true },
    handler: async ({ email }) => app.users.sendPasswordReset(email),
  }),
]
