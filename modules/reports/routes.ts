// Reports: HTTP only — request (202 + Location), status (ETag, If-None-Match), download (streamed CSV or JSON).
import { Readable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { rateLimitPolicies } from '../../plugins/rate-limit/index.js'
import { errorResponses, ok } from '../../src/lib/envelope.js'
import { EtagHeader, etagOf, IfNoneMatchHeaders, NotModifiedResponse, sendVersioned } from '../../src/lib/conditional.js'
import { InvalidPeriodError, ReportNotFoundError, ReportNotReadyError } from './errors.js'
import { Ref } from '../../src/lib/schemas.js'
import { resourcePath } from '../../src/lib/urls.js'
import type { ReportService } from './service.js'
import { CreateReportBody, ReportFile, ReportParams, ReportResponse } from './schemas.js'

const tags = ['reports']
const security = authSecurity
const CHUNK = 64 * 1024

function* chunks(content: string) {
  for (let i = 0; i < content.length; i += CHUNK) yield content.slice(i, i + CHUNK)
}

export function reportRoutes(fastify: FastifyInstance, service: ReportService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      // Each report is a query over a whole period: its own, small budget per caller.
      config: { rateLimit: rateLimitPolicies.expensive },
      schema: {
        operationId: 'createReport',
        tags,
        summary: 'Request a report',
        description:
          'Built in the background: answers 202 with the queued report and its Location; poll it until `completed`, then download it. ' +
          'Sales per UTC day over [from, to): admins get every order, anybody else their own purchases. ' +
          'Needs the `write` permission; limited per caller (a token bucket of 10, refilled over a minute). ' +
          'When it finishes, `report.completed` or `report.failed` is published (webhooks can notify you).',
        security,
        body: Ref(CreateReportBody),
        response: {
          202: { ...Ref(ReportResponse), headers: { location: Type.String({ description: 'The report (poll it)' }), ...EtagHeader } },
          ...errorResponses(401, 403, InvalidPeriodError),
        },
      },
    },
    async (request, reply) => {
      const report = await service.request(request.user!, request.body)
      reply.header('etag', etagOf(report.version)).header('location', resourcePath(app.prefix, report.id))
      return reply.code(202).send(ok(report))
    },
  )

  app.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'getReport',
        tags,
        summary: 'Get a report',
        description:
          'Its status (`queued`, `running`, `completed`, `failed`), progress and, once completed, its `downloadUrl`. ' +
          'The requester and admins; anybody else gets 404. ' +
          'The ETag is the report version (it moves as the build starts, progresses and finishes): poll with If-None-Match for a 304 while nothing changed.',
        security,
        params: ReportParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(ReportResponse), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(401, 403, ReportNotFoundError),
        },
      },
    },
    async (request, reply) => sendVersioned(request, reply, await service.get(request.user!, request.params.id)),
  )

  app.get(
    '/:id/download',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'downloadReport',
        tags,
        summary: 'Download a report',
        description:
          'The file of a completed report, streamed, in the format requested: `text/csv` or `application/json`, as an attachment. ' +
          '409 REPORT_NOT_READY while it is queued or running, or when it failed. The requester and admins; anybody else gets 404.',
        security,
        params: ReportParams,
        produces: ['text/csv', 'application/json'],
        response: { 200: ReportFile, ...errorResponses(401, 403, ReportNotFoundError, ReportNotReadyError) },
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
