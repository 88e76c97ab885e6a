// The email outbox: every email is a row (written in the sender's transaction) and a send-email job.
import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'

export const EMAIL_STATUSES = ['queued', 'sent', 'failed'] as const

const ts = () => timestamp({ withTimezone: true, precision: 3, mode: 'date' })

export const emailOutbox = pgTable(
  'email_outbox',
  {
    id: uuid().primaryKey(),
    to: text().notNull(),
    template: text().notNull(),
    subject: text().notNull(),
    text: text().notNull(),
    status: text({ enum: EMAIL_STATUSES }).notNull().default('queued'),
    attempts: integer().notNull().default(0),
    lastError: text(),
    providerMessageId: text(),
    createdAt: ts().notNull().defaultNow(),
    sentAt: ts(),
  },
  (t) => [
    check('email_outbox_status_valid', sql`${t.status} in ('queued', 'sent', 'failed')`),
    index('email_outbox_created_at_id_idx').on(t.createdAt, t.id),
    index('email_outbox_status_created_at_idx').on(t.status, t.createdAt),
    index('email_outbox_to_created_at_idx').on(t.to, t.createdAt),
  ],
)
