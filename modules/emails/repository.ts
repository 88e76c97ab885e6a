// Emails: the only code that touches email_outbox. Explicit columns; every function takes the
// Drizzle handle to use (the pool, the read replica or a transaction), so transactions pass through.
import { and, count, eq, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { emailOutbox } from './tables.js'
import type { EmailFilters } from './schemas.js'

const columns = {
  id: emailOutbox.id,
  to: emailOutbox.to,
  template: emailOutbox.template,
  subject: emailOutbox.subject,
  text: emailOutbox.text,
  status: emailOutbox.status,
  attempts: emailOutbox.attempts,
  lastError: emailOutbox.lastError,
  providerMessageId: emailOutbox.providerMessageId,
  eventId: emailOutbox.eventId,
  createdAt: emailOutbox.createdAt,
  sentAt: emailOutbox.sentAt,
}
export type EmailRow = typeof emailOutbox.$inferSelect
export type NewEmail = Pick<typeof emailOutbox.$inferInsert, 'id' | 'to' | 'template' | 'subject' | 'text' | 'eventId'>

const whereOf = (f: EmailFilters): SQL | undefined =>
  and(
    f.status ? eq(emailOutbox.status, f.status) : undefined,
    f.template ? eq(emailOutbox.template, f.template) : undefined,
    f.to ? eq(emailOutbox.to, f.to) : undefined,
  )

export function createEmailRepository() {
  return {
    /** False when the event already has its email of this template (a retried subscriber): nothing written. */
    async insert(db: DbOrTx, email: NewEmail): Promise<boolean> {
      const rows = await db.insert(emailOutbox).values(email).onConflictDoNothing().returning({ id: emailOutbox.id })
      return rows.length === 1
    },

    async get(db: DbOrTx, id: string): Promise<EmailRow | undefined> {
      const [row] = await db.select(columns).from(emailOutbox).where(eq(emailOutbox.id, id))
      return row
    },

    async markSent(db: DbOrTx, id: string, providerMessageId: string): Promise<void> {
      await db
        .update(emailOutbox)
        .set({ status: 'sent', attempts: sql`${emailOutbox.attempts} + 1`, providerMessageId, sentAt: new Date(), lastError: null })
        .where(eq(emailOutbox.id, id))
    },

    /** One more failed attempt; `failed` ends it (permanent error or out of attempts). */
    async recordFailure(db: DbOrTx, id: string, error: string, failed: boolean): Promise<void> {
      await db
        .update(emailOutbox)
        .set({
          attempts: sql`${emailOutbox.attempts} + 1`,
          lastError: error.slice(0, 2000),
          ...(failed ? { status: 'failed' as const } : {}),
        })
        .where(eq(emailOutbox.id, id))
    },

    /** Dead-lettered (out of retries or expired): failed, unless it was sent after all. */
    async markFailedIfQueued(db: DbOrTx, id: string, error: string): Promise<void> {
      await db
        .update(emailOutbox)
        .set({ status: 'failed', lastError: sql`coalesce(${emailOutbox.lastError}, ${error})` })
        .where(and(eq(emailOutbox.id, id), eq(emailOutbox.status, 'queued')))
    },

    /** One page plus one row (to tell whether a next page exists): one query, whatever its size. */
    async list(db: DbOrTx, filters: EmailFilters, list: ParsedList): Promise<EmailRow[]> {
      return db
        .select(columns)
        .from(emailOutbox)
        .where(whereOf(filters))
        .orderBy(...orderBy(list.sort, columns, emailOutbox.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async count(db: DbOrTx, filters: EmailFilters): Promise<number> {
      const [row] = await db.select({ n: count() }).from(emailOutbox).where(whereOf(filters))
      return row?.n ?? 0
    },
  }
}

export type EmailRepository = ReturnType<typeof createEmailRepository>
