// The email outbox: every email is a row and a send-email job, written together. An email sent
// because of a business event names it, once per template: a retried subscriber finds its row there.
import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn } from '../../src/db/columns.js'

export const EMAIL_STATUSES = ['queued', 'sent', 'failed'] as const

export const emailOutbox = pgTable(
  'email_outbox',
  {
    id: idColumn(),
    to: text().notNull(),
    template: text().notNull(),
    subject: text().notNull(),
    text: text().notNull(),
    status: text({ enum: EMAIL_STATUSES }).notNull().default('queued'),
    attempts: integer().notNull().default(0),
    lastError: text(),
    providerMessageId: text(),
    createdAt: timestampColumn().notNull().defaultNow(),
    sentAt: timestampColumn(),
    /** The business event that caused it (its envelope id); null for emails sent directly. */
    eventId: uuid(),
  },
  (t) => [
    check('email_outbox_status_valid', sql`${t.status} in ('queued', 'sent', 'failed')`),
    index('email_outbox_created_at_id_idx').on(t.createdAt, t.id),
    index('email_outbox_status_created_at_idx').on(t.status, t.createdAt),
    index('email_outbox_to_created_at_idx').on(t.to, t.createdAt),
    // One email per event and template, whatever the number of times its subscriber job runs.
    uniqueIndex('email_outbox_event_id_template_idx').on(t.eventId, t.template),
  ],
)
