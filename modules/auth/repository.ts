// The only code touching refresh_tokens; explicit columns.
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { refreshTokens } from './tables.js'

export type NewRefreshToken = Pick<
  typeof refreshTokens.$inferInsert,
  'id' | 'userId' | 'familyId' | 'tokenHash' | 'tokenVersion' | 'expiresAt'
>

export function createAuthRepository(db: DbOrTx) {
  return {
    async insert(values: NewRefreshToken): Promise<void> {
      await db.insert(refreshTokens).values(values)
    },

    async findByHash(tokenHash: string) {
      const [row] = await db
        .select({
          id: refreshTokens.id,
          userId: refreshTokens.userId,
          familyId: refreshTokens.familyId,
          tokenVersion: refreshTokens.tokenVersion,
          expiresAt: refreshTokens.expiresAt,
          usedAt: refreshTokens.usedAt,
          revokedAt: refreshTokens.revokedAt,
        })
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, tokenHash))
      return row
    },

    /** Spend a token: true only for the one caller that found it unspent and unrevoked. */
    async markUsed(id: string, at: Date): Promise<boolean> {
      const rows = await db
        .update(refreshTokens)
        .set({ usedAt: at })
        .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt)))
        .returning({ id: refreshTokens.id })
      return rows.length === 1
    },

    async revokeFamily(familyId: string, at: Date): Promise<void> {
      await db
        .update(refreshTokens)
        .set({ revokedAt: at })
        .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    },

    /** Forget tokens expired or revoked over `graceHours` ago (a spent token is kept while it can still be replayed). */
    async purgeStale(graceHours: number): Promise<number> {
      const before = sql`now() - make_interval(hours => ${graceHours})`
      const rows = await db
        .delete(refreshTokens)
        .where(or(lt(refreshTokens.expiresAt, before), lt(refreshTokens.revokedAt, before)))
        .returning({ id: refreshTokens.id })
      return rows.length
    },

    async revokeAllForUser(userId: string, at: Date): Promise<void> {
      await db
        .update(refreshTokens)
        .set({ revokedAt: at })
        .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)))
    },
  }
}

export type AuthRepository = ReturnType<typeof createAuthRepository>
