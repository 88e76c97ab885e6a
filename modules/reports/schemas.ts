// Reports: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components),
// the build job's payload, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { Id, Int, Nullable, StringEnum, Timestamp } from '../../src/lib/schemas.js'
import { REPORT_FORMATS, REPORT_SCOPES, REPORT_STATUSES } from './tables.js'

const Moment = (description: string, example: string) =>
  Type.Union([Type.String({ format: 'date' }), Type.String({ format: 'date-time' })], { description, examples: [example] })
const ReportType = Type.Literal('sales', { description: 'Sales per UTC day: orders, items sold, revenue (cancelled orders excluded)' })
const ReportFormat = StringEnum(REPORT_FORMATS, {
  description: 'The file: CSV (`day,orders,items_sold,revenue_cents`) or JSON (`{type, from, to, scope, generatedAt, totals, days}`)',
})

const example = {
  id: '01936b91-2a3b-7c4d-8e5f-6a7b8c9d0e1f',
  requesterId: '01936b8e-5a10-7c3d-8e2f-1a2b3c4d5e6f',
  type: 'sales',
  format: 'csv',
  from: '2026-11-01T00:00:00.000Z',
  to: '2026-12-01T00:00:00.000Z',
  scope: 'own',
  status: 'completed',
  progress: 100,
  rowCount: 30,
  error: null,
  version: 4,
  createdAt: '2026-11-29T10:15:00.000Z',
  startedAt: '2026-11-29T10:15:00.120Z',
  completedAt: '2026-11-29T10:15:00.480Z',
  downloadUrl: '/api/v1/reports/01936b91-2a3b-7c4d-8e5f-6a7b8c9d0e1f/download',
}

export const CreateReportBody = Type.Object(
  {
    type: ReportType,
    from: Moment('Start (inclusive): YYYY-MM-DD (UTC midnight) or an ISO date-time', '2026-11-01'),
    to: Moment('End (exclusive); at most 366 days after `from`', '2026-12-01'),
    format: Type.Optional({ ...ReportFormat, default: 'csv' }),
  },
  {
    $id: 'CreateReportRequest',
    additionalProperties: false,
    description: 'What to report on and over which period',
    examples: [{ type: 'sales', from: '2026-11-01', to: '2026-12-01', format: 'csv' }],
  },
)
export type CreateReportInput = Static<typeof CreateReportBody>

// The properties once, so the report.completed/failed payload (checked by TypeBox) and the named
// component (checked by Fastify) cannot drift apart.
const reportProperties = {
  id: Id(),
  requesterId: Nullable(Id('Who asked for it; null for scheduled reports (admins see those)')),
  type: ReportType,
  format: ReportFormat,
  from: Timestamp('Start of the period (inclusive)'),
  to: Timestamp('End of the period (exclusive)'),
  scope: StringEnum(REPORT_SCOPES, { description: "`own`: the requester's purchases; `all`: every order (admins, scheduled reports)" }),
  status: StringEnum(REPORT_STATUSES, { description: 'queued → running → completed, or failed' }),
  progress: Int({ maximum: 100, description: 'Percent done' }),
  rowCount: Nullable(Int({ description: 'Rows in the file, once completed' })),
  error: Nullable(Type.String({ description: 'Why it failed' })),
  version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
  createdAt: Timestamp(),
  startedAt: Nullable(Timestamp()),
  completedAt: Nullable(Timestamp('When it completed or failed')),
  downloadUrl: Nullable(Type.String({ description: 'Set once completed' })),
}

export const ReportSchema = Type.Object(reportProperties, {
  $id: 'Report',
  description: 'A report request and its state',
  examples: [example],
})
export type Report = Static<typeof ReportSchema>

export const ReportParams = Type.Object({ id: Id('Report id') })

/** The CSV or JSON file of a completed report. */
export const ReportFile = {
  description: 'The report file (Content-Disposition: attachment)',
  content: {
    'text/csv': {
      schema: Type.String({ description: 'A header row `day,orders,items_sold,revenue_cents`, then one row per UTC day (RFC 4180)' }),
    },
    'application/json': {
      schema: Type.Object({}, { additionalProperties: true, description: '{type, from, to, scope, generatedAt, totals, days}' }),
    },
  },
}

/** The build-report job's payload: the report to build. */
export const BuildReportJob = Type.Object({ reportId: Id() })

export const { response: ReportResponse } = envelopes(ReportSchema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const reportSchemas = [ReportSchema, ReportResponse, CreateReportBody]
