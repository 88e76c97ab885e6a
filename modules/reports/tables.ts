// Reports: a request (type, format, period, scope), its progress, and the finished file.
import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn, versionColumn } from '../../src/db/columns.js'

export const REPORT_STATUSES = ['queued', 'running', 'completed', 'failed'] as const
export const REPORT_FORMATS = ['csv', 'json'] as const
export const REPORT_SCOPES = ['own', 'all'] as const

export const reports = pgTable(
  'reports',
  {
    id: idColumn(),
    /** Null for scheduled (system) reports. */
    requesterId: uuid(),
    type: text({ enum: ['sales'] }).notNull(),
    format: text({ enum: REPORT_FORMATS }).notNull(),
    periodFrom: timestampColumn().notNull(),
    periodTo: timestampColumn().notNull(),
    /** `own`: the requester's orders; `all`: everybody's (admins, scheduled reports). */
    scope: text({ enum: REPORT_SCOPES }).notNull(),
    status: text({ enum: REPORT_STATUSES }).notNull().default('queued'),
    progress: integer().notNull().default(0),
    rowCount: integer(),
    content: text(),
    error: text(),
    version: versionColumn(),
    createdAt: timestampColumn().notNull().defaultNow(),
    startedAt: timestampColumn(),
    completedAt: timestampColumn(),
  },
  (t) => [
    check('reports_status_valid', sql`${t.status} in ('queued', 'running', 'completed', 'failed')`),
    check('reports_progress_range', sql`${t.progress} between 0 and 100`),
    index('reports_requester_id_created_at_idx').on(t.requesterId, t.createdAt),
  ],
)
