// The only code touching email_outbox: explicit columns, the caller's handle (pool or transaction).
import { and, count, eq, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { emailOutbox } from './tables.js'
import type { EmailFilterValues } from './schemas.js'

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
  createdAt: emailOutbox.createdAt,
  sentAt: emailOutbox.sentAt,
}
export type EmailRow = typeof emailOutbox.$inferSelect

export interface NewEmail {
  id: string
  to: string
  template: string
  subject: string
  text: string
}

export function createEmailRepository() {
  return {
    async insert(db: DbOrTx, email: NewEmail): Promise<void> {
      await db.insert(emailOutbox).values(email)
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

    async list(db: DbOrTx, filters: EmailFilterValues, list: ParsedList): Promise<{ items: EmailRow[]; total: number }> {
      const where: SQL[] = []
      if (filters.status) where.push(eq(emailOutbox.status, filters.status))
      if (filters.template) where.push(eq(emailOutbox.template, filters.template))
      if (filters.to) where.push(eq(emailOutbox.to, filters.to))
      const cond = where.length ? and(...where) : undefined
      const [items, [totalRow]] = await Promise.all([
        db
          .select(columns)
          .from(emailOutbox)
          .where(cond)
          .orderBy(...orderBy(list.sort, columns, emailOutbox.id))
          .limit(list.limit)
          .offset(list.offset),
        db.select({ n: count() }).from(emailOutbox).where(cond),
      ])
      return { items, total: totalRow?.n ?? 0 }
    },
  }
}

export type EmailRepository = ReturnType<typeof createEmailRepository>
