// The audit trail: one row per security-relevant change, written in the change's own transaction
// (a rolled-back change leaves none). Rows are never updated; the retention job deletes old ones.
import { index, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn } from '../../src/db/columns.js'
import type { AuditDetails } from './actions.js'

export const auditEvents = pgTable(
  'audit_events',
  {
    id: idColumn(),
    occurredAt: timestampColumn().notNull().defaultNow(),
    /** Who did it: a user (and the API key it used), or neither (anonymous, e.g. a failed login). */
    actorUserId: uuid(),
    actorApiKeyId: uuid(),
    action: text().notNull(),
    subjectType: text(),
    subjectId: uuid(),
    /** The account the event concerns: its owner sees the event (`GET /audit-events` as a non-admin). */
    accountId: uuid(),
    clientAddress: text(),
    requestId: text(),
    details: jsonb().$type<AuditDetails>().notNull().default({}),
  },
  (t) => [
    // The listing (newest first), and the same narrowed to an account, an actor or a subject.
    index('audit_events_occurred_at_id_idx').on(t.occurredAt, t.id),
    index('audit_events_account_occurred_at_idx').on(t.accountId, t.occurredAt, t.id),
    index('audit_events_actor_occurred_at_idx').on(t.actorUserId, t.occurredAt, t.id),
    index('audit_events_subject_occurred_at_idx').on(t.subjectId, t.occurredAt, t.id),
  ],
)
