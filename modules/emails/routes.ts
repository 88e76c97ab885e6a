// Emails: HTTP only — the admin view of the outbox.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, page, Page } from '../../src/lib/envelope.js'
import { parseList } from '../../src/lib/pagination.js'
import type { EmailService } from './service.js'
import { EmailListQuery, EmailSchema, emailListSpec, type EmailFilterValues } from './schemas.js'

export function emailRoutes(app: FastifyInstance, service: EmailService) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()

  r.get(
    '/',
    {
      preHandler: app.requirePermission('admin'),
      schema: {
        tags: ['emails'],
        summary: 'List the email outbox (admin)',
        description:
          'Filters: status (queued, sent, failed), template, to (exact address). Sort by createdAt, sentAt, status, to, attempts.',
        security: authSecurity,
        querystring: EmailListQuery,
        response: { 200: Page(EmailSchema, 'A page of emails'), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { status, template, to, ...rest } = request.query as typeof request.query & EmailFilterValues
      const { items, meta } = await service.list({ status, template, to }, parseList(rest, emailListSpec))
      return page(items, meta)
    },
  )
}
