// __Name__: the only code that touches the __table__ table. Explicit columns; every function takes
// the Drizzle handle to use (the pool, the read replica or a transaction), so transactions pass through.
import { and, count, eq, inArray, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { containsText } from '../../src/db/filters.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { __table__ } from './tables.js'
import type { __Item__Filters } from './schemas.js'

const columns = {
  id: __table__.id,
  ownerId: __table__.ownerId,
  name: __table__.name,
  description: __table__.description,
  version: __table__.version,
  createdAt: __table__.createdAt,
  updatedAt: __table__.updatedAt,
}

export type __Item__Row = typeof __table__.$inferSelect
export type __Item__Values = Pick<typeof __table__.$inferInsert, 'name' | 'description'>

function whereOf(filters: __Item__Filters): SQL | undefined {
  return and(filters.ownerId ? eq(__table__.ownerId, filters.ownerId) : undefined, filters.q ? containsText(filters.q, __table__.name) : undefined)
}

export function create__Item__Repository() {
  return {
    async insert(db: DbOrTx, values: __Item__Values & { id: string; ownerId: string }): Promise<__Item__Row> {
      const [row] = await db.insert(__table__).values(values).returning(columns)
      return row!
    },

    async findById(db: DbOrTx, id: string): Promise<__Item__Row | undefined> {
      const [row] = await db.select(columns).from(__table__).where(eq(__table__.id, id))
      return row
    },

    /** One page plus one row (to tell whether a next page exists). */
    async list(db: DbOrTx, filters: __Item__Filters, list: ParsedList): Promise<__Item__Row[]> {
      return db
        .select(columns)
        .from(__table__)
        .where(whereOf(filters))
        .orderBy(...orderBy(list.sort, columns, __table__.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async count(db: DbOrTx, filters: __Item__Filters): Promise<number> {
      const [row] = await db.select({ n: count() }).from(__table__).where(whereOf(filters))
      return row?.n ?? 0
    },

    /** Write the named fields (bumping the version); with `versions` (If-Match), only while it is at one of them. */
    async update(db: DbOrTx, id: string, values: Partial<__Item__Values>, versions?: number[]): Promise<__Item__Row | undefined> {
      const [row] = await db
        .update(__table__)
        .set({ ...values, version: sql`${__table__.version} + 1`, updatedAt: sql`now()` })
        .where(and(eq(__table__.id, id), versions ? inArray(__table__.version, versions) : undefined))
        .returning(columns)
      return row
    },

    async delete(db: DbOrTx, id: string): Promise<__Item__Row | undefined> {
      const [row] = await db.delete(__table__).where(eq(__table__.id, id)).returning(columns)
      return row
    },
  }
}

export type __Item__Repository = ReturnType<typeof create__Item__Repository>
