// Audit events' queue: the retention job (daily) deletes events older than AUDIT_RETENTION_DAYS.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { auditEventServiceDeps } from './contract.js'
import { createAuditEventService } from './service.js'

export const PURGE_QUEUE = 'audit-events.purge'

export default (app: FastifyInstance): JobDefinition[] => {
  const service = createAuditEventService(auditEventServiceDeps(app))
  return [
    defineJob({
      name: PURGE_QUEUE,
      schema: Type.Object({}),
      schedule: { cron: '23 4 * * *' },
      queue: { retryLimit: 2 },
      handler: async (_data, { log }) => {
        const purged = await service.purge()
        if (purged > 0) log.info({ purged, retentionDays: app.config.AUDIT_RETENTION_DAYS }, 'old audit events deleted')
      },
    }),
  ]
}
