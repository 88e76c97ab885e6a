// Audit events: the only code that touches audit_events. Explicit columns; every function takes the
// Drizzle handle to use (the pool, the read replica or the change's transaction).
import { and, eq, gte, inArray, lt, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { keysetWhere, orderBy, type ParsedList } from '../../src/lib/pagination.js'
import type { AuditEventFilters } from './schemas.js'
import { auditEvents } from './tables.js'

export const auditEventColumns = {
  id: auditEvents.id,
  occurredAt: auditEvents.occurredAt,
  actorUserId: auditEvents.actorUserId,
  actorApiKeyId: auditEvents.actorApiKeyId,
  action: auditEvents.action,
  subjectType: auditEvents.subjectType,
  subjectId: auditEvents.subjectId,
  accountId: auditEvents.accountId,
  clientAddress: auditEvents.clientAddress,
  requestId: auditEvents.requestId,
  details: auditEvents.details,
}

export type AuditEventRow = typeof auditEvents.$inferSelect
export type NewAuditEventRow = Omit<typeof auditEvents.$inferInsert, 'occurredAt'>

/** Rows deleted per statement by the retention job: short transactions, no long lock on the table. */
const PURGE_BATCH = 5000

function whereOf(f: AuditEventFilters & { scopeAccountId?: string }): SQL | undefined {
  return and(
    f.scopeAccountId ? eq(auditEvents.accountId, f.scopeAccountId) : undefined,
    f.accountId ? eq(auditEvents.accountId, f.accountId) : undefined,
    f.actorId ? eq(auditEvents.actorUserId, f.actorId) : undefined,
    f.apiKeyId ? eq(auditEvents.actorApiKeyId, f.apiKeyId) : undefined,
    f.subjectType ? eq(auditEvents.subjectType, f.subjectType) : undefined,
    f.subjectId ? eq(auditEvents.subjectId, f.subjectId) : undefined,
    f.action ? eq(auditEvents.action, f.action) : undefined,
    f.from ? gte(auditEvents.occurredAt, new Date(f.from)) : undefined,
    f.to ? lt(auditEvents.occurredAt, new Date(f.to)) : undefined,
  )
}

export function createAuditEventRepository() {
  return {
    async insert(db: DbOrTx, values: NewAuditEventRow): Promise<void> {
      await db.insert(auditEvents).values(values)
    },

    /** One keyset page plus one row (to tell whether a next page exists). */
    async list(db: DbOrTx, filters: AuditEventFilters & { scopeAccountId?: string }, list: ParsedList): Promise<AuditEventRow[]> {
      return db
        .select(auditEventColumns)
        .from(auditEvents)
        .where(and(whereOf(filters), keysetWhere(list, auditEventColumns, auditEvents.id)))
        .orderBy(...orderBy(list.sort, auditEventColumns, auditEvents.id))
        .limit(list.limit + 1)
    },

    /** Delete what occurred over `days` ago, in batches; how many rows. */
    async purgeOlderThan(db: DbOrTx, days: number): Promise<number> {
      const before = sql`now() - make_interval(days => ${days})`
      let total = 0
      for (;;) {
        const batch = db.select({ id: auditEvents.id }).from(auditEvents).where(lt(auditEvents.occurredAt, before)).limit(PURGE_BATCH)
        const rows = await db.delete(auditEvents).where(inArray(auditEvents.id, batch)).returning({ id: auditEvents.id })
        total += rows.length
        if (rows.length < PURGE_BATCH) return total
      }
    },
  }
}

export type AuditEventRepository = ReturnType<typeof createAuditEventRepository>
