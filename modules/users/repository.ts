// The only code touching the users table: explicit columns, never the password hash unless asked for.
import { and, count, eq, ilike, or, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { users } from './tables.js'
import type { UserFilters } from './schemas.js'

export type UserRow = Pick<typeof users.$inferSelect, 'id' | 'email' | 'name' | 'role' | 'status' | 'createdAt' | 'updatedAt'>
export type NewUserRow = Pick<typeof users.$inferInsert, 'id' | 'email' | 'name' | 'passwordHash' | 'role' | 'status'>
export type UserChanges = Partial<Pick<typeof users.$inferInsert, 'email' | 'name' | 'passwordHash' | 'role' | 'status'>>

const publicColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  status: users.status,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
}
const sortColumns = { createdAt: users.createdAt, email: users.email, name: users.name, role: users.role, status: users.status }

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`)

function where(filters: UserFilters): SQL | undefined {
  const q = filters.q ? `%${escapeLike(filters.q)}%` : undefined
  return and(
    filters.role ? eq(users.role, filters.role) : undefined,
    filters.status ? eq(users.status, filters.status) : undefined,
    q ? or(ilike(users.email, q), ilike(users.name, q)) : undefined,
  )
}

export function createUsersRepository(db: DbOrTx) {
  return {
    async insert(values: NewUserRow): Promise<UserRow> {
      const [row] = await db.insert(users).values(values).returning(publicColumns)
      return row!
    },

    async findById(id: string): Promise<UserRow | undefined> {
      const [row] = await db.select(publicColumns).from(users).where(eq(users.id, id))
      return row
    },

    async findCredentials(email: string) {
      const [row] = await db
        .select({
          id: users.id,
          email: users.email,
          passwordHash: users.passwordHash,
          role: users.role,
          status: users.status,
          tokenVersion: users.tokenVersion,
        })
        .from(users)
        .where(eq(users.email, email))
      return row
    },

    async findPasswordHash(id: string): Promise<string | undefined> {
      const [row] = await db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, id))
      return row?.passwordHash
    },

    async findAuthState(id: string) {
      const [row] = await db
        .select({ id: users.id, role: users.role, status: users.status, tokenVersion: users.tokenVersion })
        .from(users)
        .where(eq(users.id, id))
      return row
    },

    async list(filters: UserFilters, list: ParsedList): Promise<UserRow[]> {
      return db
        .select(publicColumns)
        .from(users)
        .where(where(filters))
        .orderBy(...orderBy(list.sort, sortColumns, users.id))
        .limit(list.limit)
        .offset(list.offset)
    },

    async count(filters: UserFilters = {}): Promise<number> {
      const [row] = await db.select({ n: count() }).from(users).where(where(filters))
      return row?.n ?? 0
    },

    /**
     * Apply changes; `expectedUpdatedAt` makes it conditional (optimistic concurrency) and
     * `bumpTokenVersion` invalidates the user's live access and refresh tokens.
     * Undefined when no row matched.
     */
    async update(
      id: string,
      changes: UserChanges,
      options: { expectedUpdatedAt?: Date; bumpTokenVersion?: boolean } = {},
    ): Promise<UserRow | undefined> {
      const [row] = await db
        .update(users)
        .set({
          ...changes,
          updatedAt: sql`greatest(now(), ${users.updatedAt} + interval '1 millisecond')`,
          ...(options.bumpTokenVersion ? { tokenVersion: sql`${users.tokenVersion} + 1` } : {}),
        })
        .where(and(eq(users.id, id), options.expectedUpdatedAt ? eq(users.updatedAt, options.expectedUpdatedAt) : undefined))
        .returning(publicColumns)
      return row
    },

    async bumpTokenVersion(id: string): Promise<number | undefined> {
      const [row] = await db
        .update(users)
        .set({ tokenVersion: sql`${users.tokenVersion} + 1` })
        .where(eq(users.id, id))
        .returning({ tokenVersion: users.tokenVersion })
      return row?.tokenVersion
    },

    async delete(id: string): Promise<boolean> {
      const rows = await db.delete(users).where(eq(users.id, id)).returning({ id: users.id })
      return rows.length > 0
    },
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
