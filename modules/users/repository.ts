// Users: the only code that touches the users table. Explicit columns (the password hash only where
// asked for); every function takes the Drizzle handle to use (the pool, the read replica or a
// transaction), so transactions pass through.
import { and, asc, count, eq, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { containsText } from '../../src/db/filters.js'
import { keysetWhere, orderBy, pickColumns, type ParsedList } from '../../src/lib/pagination.js'
import { emailTokens, users, type EMAIL_TOKEN_PURPOSES } from './tables.js'
import type { UserFilters } from './schemas.js'

export const userColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  status: users.status,
  emailVerified: users.emailVerified,
  version: users.version,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
}

export type UserRow = Pick<typeof users.$inferSelect, keyof typeof userColumns>
export type NewUserRow = Pick<typeof users.$inferInsert, 'id' | 'email' | 'name' | 'passwordHash' | 'role' | 'status' | 'emailVerified'>
export type UserValues = Partial<Pick<typeof users.$inferInsert, 'email' | 'name' | 'passwordHash' | 'role' | 'status' | 'emailVerified'>>
export type EmailTokenPurpose = (typeof EMAIL_TOKEN_PURPOSES)[number]
export type NewEmailToken = Pick<typeof emailTokens.$inferInsert, 'id' | 'userId' | 'purpose' | 'tokenHash' | 'newEmail' | 'expiresAt'>

function whereOf(f: UserFilters): SQL | undefined {
  return and(
    f.role ? eq(users.role, f.role) : undefined,
    f.status ? eq(users.status, f.status) : undefined,
    f.q ? containsText(f.q, users.email, users.name) : undefined,
  )
}

export function createUserRepository() {
  return {
    async insert(db: DbOrTx, values: NewUserRow): Promise<UserRow> {
      const [row] = await db.insert(users).values(values).returning(userColumns)
      return row!
    },

    async findById(db: DbOrTx, id: string): Promise<UserRow | undefined> {
      const [row] = await db.select(userColumns).from(users).where(eq(users.id, id))
      return row
    },

    async findByEmail(db: DbOrTx, email: string): Promise<UserRow | undefined> {
      const [row] = await db.select(userColumns).from(users).where(eq(users.email, email))
      return row
    },

    /** What a login checks: id, email, password hash, role, status and token version. */
    async findCredentials(db: DbOrTx, email: string) {
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

    async findPasswordHash(db: DbOrTx, id: string): Promise<string | undefined> {
      const [row] = await db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, id))
      return row?.passwordHash
    },

    async findAuthState(db: DbOrTx, id: string) {
      const [row] = await db
        .select({ id: users.id, role: users.role, status: users.status, tokenVersion: users.tokenVersion })
        .from(users)
        .where(eq(users.id, id))
      return row
    },

    /** One page plus one row (to tell whether a next page exists); with `fields`, only those columns (and the sort keys). */
    async list(db: DbOrTx, filters: UserFilters, list: ParsedList): Promise<Partial<UserRow>[]> {
      return db
        .select(pickColumns(userColumns, list))
        .from(users)
        .where(and(whereOf(filters), keysetWhere(list, userColumns, users.id)))
        .orderBy(...orderBy(list.sort, userColumns, users.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async count(db: DbOrTx, filters: UserFilters = {}): Promise<number> {
      const [row] = await db.select({ n: count() }).from(users).where(whereOf(filters))
      return row?.n ?? 0
    },

    /**
     * The active admins' ids, their rows locked until the transaction ends (in id order, so two
     * concurrent demotions cannot deadlock): a demotion, disabling or deletion checked against them
     * cannot race another one into leaving no admin at all.
     */
    async lockActiveAdmins(tx: DbOrTx): Promise<string[]> {
      const rows = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.status, 'active')))
        .orderBy(asc(users.id))
        .for('update')
      return rows.map((r) => r.id)
    },

    /**
     * Write the named fields (bumping the version); with `versions` (If-Match), only while the user
     * is at one of them; `signOut` bumps the token version too (every session of the user ends).
     * Undefined when no row matched (gone, or moved on).
     */
    async update(
      db: DbOrTx,
      id: string,
      values: UserValues,
      { versions, signOut = false }: { versions?: number[]; signOut?: boolean } = {},
    ): Promise<UserRow | undefined> {
      const [row] = await db
        .update(users)
        .set({
          ...values,
          version: sql`${users.version} + 1`,
          updatedAt: sql`now()`,
          ...(signOut ? { tokenVersion: sql`${users.tokenVersion} + 1` } : {}),
        })
        .where(and(eq(users.id, id), versions ? inArray(users.version, versions) : undefined))
        .returning(userColumns)
      return row
    },

    async bumpTokenVersion(db: DbOrTx, id: string): Promise<number | undefined> {
      const [row] = await db
        .update(users)
        .set({ tokenVersion: sql`${users.tokenVersion} + 1` })
        .where(eq(users.id, id))
        .returning({ tokenVersion: users.tokenVersion })
      return row?.tokenVersion
    },

    async insertEmailToken(db: DbOrTx, values: NewEmailToken): Promise<void> {
      await db.insert(emailTokens).values(values)
    },

    /**
     * Spend a token: only an unused, unexpired token of that purpose, and only for the one caller
     * that finds it so (the update is the check). Its user and, for an email change, the new address.
     */
    async useEmailToken(db: DbOrTx, tokenHash: string, purpose: EmailTokenPurpose, at: Date) {
      const [row] = await db
        .update(emailTokens)
        .set({ usedAt: at })
        .where(
          and(
            eq(emailTokens.tokenHash, tokenHash),
            eq(emailTokens.purpose, purpose),
            isNull(emailTokens.usedAt),
            gt(emailTokens.expiresAt, at),
          ),
        )
        .returning({ userId: emailTokens.userId, newEmail: emailTokens.newEmail })
      return row
    },

    /** Void a user's outstanding tokens (of the given purposes, or all): they never work again. */
    async voidEmailTokens(db: DbOrTx, userId: string, at: Date, purposes?: EmailTokenPurpose[]): Promise<void> {
      await db
        .update(emailTokens)
        .set({ usedAt: at })
        .where(
          and(eq(emailTokens.userId, userId), isNull(emailTokens.usedAt), purposes ? inArray(emailTokens.purpose, purposes) : undefined),
        )
    },

    async delete(db: DbOrTx, id: string): Promise<boolean> {
      const rows = await db.delete(users).where(eq(users.id, id)).returning({ id: users.id })
      return rows.length > 0
    },
  }
}

export type UserRepository = ReturnType<typeof createUserRepository>
