// __Name__ tables: owned by the __name__ module; drizzle-kit finds them through modules/*/tables.ts.
import { index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { newId } from '../../src/lib/ids.js'

export const __table__ = pgTable(
  '__table__',
  {
    id: uuid().primaryKey().$defaultFn(newId),
    ownerId: uuid().notNull(),
    name: text().notNull(),
    description: text().notNull().default(''),
    version: integer().notNull().default(1),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('__table___created_at_id_idx').on(t.createdAt, t.id), index('__table___owner_id_idx').on(t.ownerId)],
)
