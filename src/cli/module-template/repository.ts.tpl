// __Name__ repository: the only code that touches the __table__ table; explicit columns.
import { and, count, eq, ilike, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../src/db/client.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { __table__ } from './tables.js'
import type { Create__Item__, __Item__Filters, Update__Item__ } from './schemas.js'

const columns = {
  id: __table__.id,
  ownerId: __table__.ownerId,
  name: __table__.name,
  description: __table__.description,
  version: __table__.version,
  createdAt: __table__.createdAt,
  updatedAt: __table__.updatedAt,
}
export type __Item__Row = { [K in keyof typeof columns]: (typeof columns)[K]['_']['data'] }

function where(filters: __Item__Filters): SQL | undefined {
  return and(
    filters.ownerId ? eq(__table__.ownerId, filters.ownerId) : undefined,
    filters.q ? ilike(__table__.name, `%${filters.q.replace(/[%_\\]/g, '\\$&')}%`) : undefined,
  )
}

export function create__Item__Repository(db: Db) {
  return {
    async list(list: ParsedList, filters: __Item__Filters): Promise<__Item__Row[]> {
      return db.select(columns).from(__table__).where(where(filters)).orderBy(...orderBy(list.sort, columns, __table__.id)).limit(list.limit).offset(list.offset)
    },
    async count(filters: __Item__Filters): Promise<number> {
      const [row] = await db.select({ n: count() }).from(__table__).where(where(filters))
      return row?.n ?? 0
    },
    async get(id: string): Promise<__Item__Row | undefined> {
      const [row] = await db.select(columns).from(__table__).where(eq(__table__.id, id))
      return row
    },
    async insert(ownerId: string, input: Create__Item__): Promise<__Item__Row> {
      const [row] = await db.insert(__table__).values({ ownerId, ...input }).returning(columns)
      return row!
    },
    async update(id: string, patch: Update__Item__): Promise<__Item__Row | undefined> {
      const [row] = await db
        .update(__table__)
        .set({ ...patch, version: sql`${__table__.version} + 1`, updatedAt: new Date() })
        .where(eq(__table__.id, id))
        .returning(columns)
      return row
    },
    async remove(id: string): Promise<boolean> {
      const rows = await db.delete(__table__).where(eq(__table__.id, id)).returning({ id: __table__.id })
      return rows.length > 0
    },
  }
}

export type __Item__Repository = ReturnType<typeof create__Item__Repository>
