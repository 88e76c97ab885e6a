// Reports' TypeBox schemas: the request, the report as the API shows it, the job payloads.
import { Type, type Static } from '@sinclair/typebox'
import { UUID_PATTERN } from '../../src/lib/ids.js'
import { REPORT_FORMATS, REPORT_SCOPES, REPORT_STATUSES } from './tables.js'

const Timestamp = Type.String({ format: 'date-time' })
const Moment = Type.Union([Type.String({ format: 'date' }), Type.String({ format: 'date-time' })])

export const CreateReportBody = Type.Object(
  {
    type: Type.Literal('sales', { description: 'Sales per UTC day: orders, items sold, revenue (cancelled orders excluded)' }),
    from: { ...Moment, description: 'Start (inclusive): YYYY-MM-DD (UTC midnight) or an ISO date-time' },
    to: { ...Moment, description: 'End (exclusive); at most 366 days after `from`' },
    format: Type.Union(
      REPORT_FORMATS.map((f) => Type.Literal(f)),
      { default: 'csv' },
    ),
  },
  { additionalProperties: false },
)
export type CreateReportInput = Static<typeof CreateReportBody>

export const ReportSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    requesterId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], { description: 'Null for scheduled reports' }),
    type: Type.Literal('sales'),
    format: Type.Union(REPORT_FORMATS.map((f) => Type.Literal(f))),
    from: Timestamp,
    to: Timestamp,
    scope: Type.Union(
      REPORT_SCOPES.map((s) => Type.Literal(s)),
      { description: "own: the requester's orders; all: every order (admins)" },
    ),
    status: Type.Union(REPORT_STATUSES.map((s) => Type.Literal(s))),
    progress: Type.Integer({ minimum: 0, maximum: 100 }),
    rowCount: Type.Union([Type.Integer(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
    startedAt: Type.Union([Timestamp, Type.Null()]),
    completedAt: Type.Union([Timestamp, Type.Null()]),
    downloadUrl: Type.Union([Type.String(), Type.Null()], { description: 'Set once completed' }),
  },
  { description: 'A report request and its state' },
)
export type Report = Static<typeof ReportSchema>

export const ReportParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) })

export const BuildReportJob = Type.Object({ reportId: Type.String({ pattern: UUID_PATTERN }) })
