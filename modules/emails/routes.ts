// Emails: HTTP only — the admin view of the outbox.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, page } from '../../src/lib/envelope.js'
import { Ref } from '../../src/lib/schemas.js'
import type { EmailService } from './service.js'
import { EmailPage, emailList } from './schemas.js'

const tags = ['emails']

export function emailRoutes(fastify: FastifyInstance, service: EmailService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get(
    '',
    {
      preHandler: app.requirePermission('admin'),
      schema: {
        operationId: 'listEmails',
        tags,
        summary: 'List the email outbox',
        description:
          'Admins only. Every email the app sent or will send, with its delivery state. Filters: `status` (queued, sent, failed), ' +
          '`template`, `to` (exact address). Sort by `createdAt`, `sentAt`, `status`, `to`, `attempts`.',
        security: authSecurity,
        querystring: emailList.query,
        response: { 200: Ref(EmailPage), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = emailList.parse(request.query)
      const { items, meta } = await service.list(filters, list)
      return page(items, meta)
    },
  )
}
