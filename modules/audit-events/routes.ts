// Audit events: HTTP only — the query in, a service call, the page out.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, page } from '../../src/lib/envelope.js'
import { Ref } from '../../src/lib/schemas.js'
import { InvalidTimeRangeError } from './errors.js'
import type { AuditEventService } from './service.js'
import { AuditEventPage, AuditEventQuery, auditEventList } from './schemas.js'

const tags = ['audit-events']
export function auditEventRoutes(fastify: FastifyInstance, service: AuditEventService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'listAuditEvents',
        tags,
        summary: 'List audit events',
        description:
          'The audit trail, newest first: logins (succeeded and failed), logouts, sessions ended, sign-ups, email, password, role ' +
          'and status changes, accounts deleted, API keys created, rotated and revoked, webhooks created and deleted. Each event ' +
          'was written in the same transaction as its change. Admins see every event; anyone else sees only the events about ' +
          'their own account (`accountId` = theirs), whoever the actor was. Filters: `actorId`, `apiKeyId`, `accountId`, ' +
          '`subjectType` and `subjectId`, `action`, `from` (inclusive) and `to` (exclusive). Keyset pages: follow `meta.nextCursor` ' +
          '(null on the last page). Events older than AUDIT_RETENTION_DAYS are deleted by a daily job.',
        security: authSecurity,
        querystring: AuditEventQuery,
        response: { 200: Ref(AuditEventPage), ...errorResponses(InvalidTimeRangeError, 401, 403) },
      },
    },
    async (request) => {
      // Always keyset: no cursor is the first page.
      const query = { ...request.query, cursor: request.query.cursor ?? '' }
      const { list, filters } = auditEventList.parse(query as Parameters<typeof auditEventList.parse>[0])
      const { items, meta } = await service.list(request.user!, filters, list)
      return page(items, meta)
    },
  )
}
