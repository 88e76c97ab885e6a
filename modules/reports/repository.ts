// Reports: the only code that touches the reports table. Explicit columns (the file itself only when
// asked for); every function takes the Drizzle handle to use (the pool or a transaction). Every
// update bumps the version (the report's ETag).
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { reports } from './tables.js'

const columns = {
  id: reports.id,
  requesterId: reports.requesterId,
  type: reports.type,
  format: reports.format,
  periodFrom: reports.periodFrom,
  periodTo: reports.periodTo,
  scope: reports.scope,
  status: reports.status,
  progress: reports.progress,
  rowCount: reports.rowCount,
  error: reports.error,
  version: reports.version,
  createdAt: reports.createdAt,
  startedAt: reports.startedAt,
  completedAt: reports.completedAt,
}
export type ReportRow = Omit<typeof reports.$inferSelect, 'content'>
export type NewReport = Pick<typeof reports.$inferInsert, 'id' | 'requesterId' | 'type' | 'format' | 'periodFrom' | 'periodTo' | 'scope'>

export function createReportRepository() {
  return {
    async insert(db: DbOrTx, row: NewReport): Promise<ReportRow> {
      const [created] = await db.insert(reports).values(row).returning(columns)
      return created!
    },

    async get(db: DbOrTx, id: string): Promise<ReportRow | undefined> {
      const [row] = await db.select(columns).from(reports).where(eq(reports.id, id))
      return row
    },

    async content(db: DbOrTx, id: string): Promise<string | null> {
      const [row] = await db.select({ content: reports.content }).from(reports).where(eq(reports.id, id))
      return row?.content ?? null
    },

    /** queued|running → running; false when the report is gone or already finished. */
    async start(db: DbOrTx, id: string): Promise<boolean> {
      const rows = await db
        .update(reports)
        .set({ status: 'running', progress: 10, startedAt: new Date(), error: null, version: sql`${reports.version} + 1` })
        .where(and(eq(reports.id, id), inArray(reports.status, ['queued', 'running'])))
        .returning({ id: reports.id })
      return rows.length > 0
    },

    async progress(db: DbOrTx, id: string, progress: number): Promise<void> {
      await db
        .update(reports)
        .set({ progress, version: sql`${reports.version} + 1` })
        .where(eq(reports.id, id))
    },

    /** running → completed, with its file; undefined when it is no longer running. */
    async complete(db: DbOrTx, id: string, content: string, rowCount: number): Promise<ReportRow | undefined> {
      const [row] = await db
        .update(reports)
        .set({ status: 'completed', progress: 100, content, rowCount, completedAt: new Date(), version: sql`${reports.version} + 1` })
        .where(and(eq(reports.id, id), eq(reports.status, 'running')))
        .returning(columns)
      return row
    },

    /** queued|running → failed; undefined when it had already finished (so it fails once). */
    async fail(db: DbOrTx, id: string, error: string): Promise<ReportRow | undefined> {
      const [row] = await db
        .update(reports)
        .set({ status: 'failed', error, completedAt: new Date(), version: sql`${reports.version} + 1` })
        .where(and(eq(reports.id, id), inArray(reports.status, ['queued', 'running'])))
        .returning(columns)
      return row
    },
  }
}

export type ReportRepository = ReturnType<typeof createReportRepository>
