// Emails: HTTP only — the admin view of the outbox.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, page, Page } from '../../src/lib/envelope.js'
import type { EmailService } from './service.js'
import { emailList, EmailSchema } from './schemas.js'

export function emailRoutes(app: FastifyInstance, service: EmailService) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()

  r.get(
    '',
    {
      preHandler: app.requirePermission('admin'),
      schema: {
        tags: ['emails'],
        summary: 'List the email outbox (admin)',
        description:
          'Filters: status (queued, sent, failed), template, to (exact address). Sort by createdAt, sentAt, status, to, attempts.',
        security: authSecurity,
        querystring: emailList.query,
        response: { 200: Page(EmailSchema, 'A page of emails'), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = emailList.parse(request.query)
      const { items, meta } = await service.list(filters, list)
      return page(items, meta)
    },
  )
}
