// The audit-events module: the audit trail, listed by admins (all of it) and by users (their own
// account's). Encapsulated: its schemas and routes stay in its own context; it decorates nothing on
// the root (the writer is its contract, `app.audit`).
import fp from 'fastify-plugin'
import { auditEventServiceDeps } from './contract.js'
import { auditEventRoutes } from './routes.js'
import { auditEventSchemas } from './schemas.js'
import { createAuditEventService } from './service.js'

export default fp(
  async (app) => {
    for (const schema of auditEventSchemas) app.addSchema(schema)
    auditEventRoutes(app, createAuditEventService(auditEventServiceDeps(app)))
  },
  { fastify: '5.x', name: 'audit-events-module', dependencies: ['auth', 'audit-events-contract'], encapsulate: true },
)
