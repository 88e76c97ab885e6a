// Audit events' public contract, built once and decorated as `app.audit`: the writer every module
// calls inside the transaction of the change it records —
//   await app.audit.record(tx, { action: 'user.role.changed', subject: { type: 'user', id }, details: { from, to } })
// The request's id, client address and caller are filled in from the request context.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { currentOrigin } from '../../plugins/request-context.js'
import { createAuditEventRepository } from './repository.js'
import { createAuditEventService } from './service.js'

export { AUDIT_ACTIONS, type AuditAction, type AuditDetails, type AuditSubjectType } from './actions.js'
export type { AuditEntry } from './service.js'
export type { AuditEvent } from './schemas.js'

export const auditEventServiceDeps = (app: FastifyInstance) => ({
  db: app.db,
  dbRead: app.dbRead,
  repo: createAuditEventRepository(),
  origin: currentOrigin,
  retentionDays: app.config.AUDIT_RETENTION_DAYS,
})

export function createAuditContract(app: FastifyInstance) {
  const { record } = createAuditEventService(auditEventServiceDeps(app))
  return { record }
}

export type AuditContract = ReturnType<typeof createAuditContract>
/** What a service takes to record events (`audit.record(tx, entry)`). */
export type AuditWriter = Pick<AuditContract, 'record'>

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditContract
  }
}

export default fp(
  async (app) => {
    app.decorate('audit', createAuditContract(app))
  },
  { fastify: '5.x', name: 'audit-events-contract', dependencies: ['db'] },
)
