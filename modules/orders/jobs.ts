// Orders' jobs: forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS (hourly).
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { JobDefinition } from '../../plugins/queue/index.js'
import { createOrderRepository } from './repository.js'

export default (app: FastifyInstance): JobDefinition[] => {
  const repo = createOrderRepository()
  return [
    {
      name: 'orders.purge-idempotency-keys',
      schema: Type.Object({}),
      schedule: { cron: '17 * * * *' },
      queue: { retryLimit: 2 },
      handler: async (_data, { log }) => {
        const purged = await repo.purgeKeys(app.db, app.config.IDEMPOTENCY_TTL_HOURS)
        if (purged > 0) log.info({ purged }, 'expired idempotency keys purged')
      },
    },
  ]
}
