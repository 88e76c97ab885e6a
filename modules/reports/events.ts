// Reports' business events, published in the transaction that finishes a report. A report is private
// to its requester: its events go to the requester and to admins (scheduled reports: admins only).
import { Type, type Static } from '@sinclair/typebox'
import { defineEvent, type Audience } from '../../plugins/events.js'
import { ReportSchema } from './schemas.js'

/** The report as events carry it: the API's fields, self-contained (no $ref). */
export const ReportEventSchema = Type.Object(ReportSchema.properties)
export type ReportEvent = Static<typeof ReportEventSchema>

const requesterAndAdmins = (report: { requesterId: string | null }): Audience => ({
  users: report.requesterId ? [report.requesterId] : [],
  roles: ['admin'],
})

export const reportCompleted = defineEvent({
  name: 'report.completed',
  description: 'A report was built: the report, with its downloadUrl',
  schema: ReportEventSchema,
  audience: requesterAndAdmins,
  audienceText: 'the requester and admins',
})

export const reportFailed = defineEvent({
  name: 'report.failed',
  description: 'A report could not be built (out of retries): the report, with its error',
  schema: ReportEventSchema,
  audience: requesterAndAdmins,
  audienceText: 'the requester and admins',
})

export default [reportCompleted, reportFailed]
