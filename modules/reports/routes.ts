// Reports: HTTP only — request (202), status, download (streamed CSV or JSON).
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, Success } from '../../src/lib/envelope.js'
import type { ReportService } from './service.js'
import { CreateReportBody, ReportParams, ReportSchema } from './schemas.js'

const tags = ['reports']
const security = authSecurity
const CHUNK = 64 * 1024

function* chunks(content: string) {
  for (let i = 0; i < content.length; i += CHUNK) yield content.slice(i, i + CHUNK)
}

export function reportRoutes(app: FastifyInstance, service: ReportService, prefix: string) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()

  r.post(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'Request a report (built in the background)',
        description:
          'Sales per UTC day over [from, to): admins get every order, anybody else their own purchases. Poll the Location, then download.',
        security,
        body: CreateReportBody,
        response: {
          202: {
            ...Success(ReportSchema, 'Accepted: queued'),
            headers: { location: Type.String({ description: 'The report (poll it)' }) },
          },
          ...errorResponses(401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const report = await service.request(request.user, request.body)
      return reply.code(202).header('location', `${prefix}/${report.id}`).send(ok(report))
    },
  )

  r.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'Report status and progress (requester or admin)',
        security,
        params: ReportParams,
        response: { 200: Success(ReportSchema, 'The report'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ok(await service.get(request.user!, request.params.id)),
  )

  r.get(
    '/:id/download',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'Download a completed report (CSV or JSON, as requested)',
        security,
        params: ReportParams,
        produces: ['text/csv', 'application/json'],
        response: {
          200: {
            description: 'The report file (Content-Disposition: attachment)',
            content: {
              'text/csv': { schema: Type.String({ description: 'day,orders,items_sold,revenue_cents' }) },
              'application/json': {
                schema: Type.Object({}, { additionalProperties: true, description: '{type, from, to, scope, generatedAt, totals, days}' }),
              },
            },
          },
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const file = await service.download(request.user!, request.params.id)
      return reply
        .type(file.contentType)
        .header('content-disposition', `attachment; filename="${file.filename}"`)
        .send(Readable.from(chunks(file.content)))
    },
  )
}
