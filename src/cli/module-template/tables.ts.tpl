// __Name__: the __table__ table, owned by the __name__ module (drizzle-kit finds it through modules/*/tables.ts).
import { index, pgTable, text, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestamps, versionColumn } from '../../src/db/columns.js'

export const __table__ = pgTable(
  '__table__',
  {
    id: idColumn(),
    ownerId: uuid().notNull(),
    name: text().notNull(),
    description: text().notNull().default(''),
    version: versionColumn(),
    ...timestamps(),
  },
  (t) => [index('__table___owner_id_created_at_idx').on(t.ownerId, t.createdAt, t.id), index('__table___created_at_id_idx').on(t.createdAt, t.id)],
)
