// Auth: the only code that touches sessions and refresh_tokens. Explicit columns; every function
// takes the Drizzle handle to use (the pool or a transaction), so transactions pass through.
import { and, desc, eq, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { refreshTokens, sessions } from './tables.js'

export type NewRefreshToken = Pick<
  typeof refreshTokens.$inferInsert,
  'id' | 'userId' | 'familyId' | 'tokenHash' | 'tokenVersion' | 'expiresAt'
>

/** Where a session was last used from (a login or a refresh). */
export interface SessionClient {
  clientAddress: string | null
  userAgent: string | null
}

/** The most live sessions one listing shows (the most recently used). */
export const SESSION_LIST_MAX = 100

export function createAuthRepository() {
  return {
    async insertSession(db: DbOrTx, values: { id: string; userId: string; expiresAt: Date } & SessionClient): Promise<void> {
      await db.insert(sessions).values(values)
    },

    /** A user's live sessions (not ended, not expired), the most recently used first. */
    async listLiveSessions(db: DbOrTx, userId: string, at: Date) {
      return db
        .select({
          id: sessions.id,
          createdAt: sessions.createdAt,
          lastUsedAt: sessions.lastUsedAt,
          expiresAt: sessions.expiresAt,
          clientAddress: sessions.clientAddress,
          userAgent: sessions.userAgent,
        })
        .from(sessions)
        .where(and(eq(sessions.userId, userId), isNull(sessions.endedAt), gt(sessions.expiresAt, at)))
        .orderBy(desc(sessions.lastUsedAt), desc(sessions.id))
        .limit(SESSION_LIST_MAX)
    },

    async findSession(db: DbOrTx, id: string) {
      const [row] = await db
        .select({ id: sessions.id, userId: sessions.userId, expiresAt: sessions.expiresAt, endedAt: sessions.endedAt })
        .from(sessions)
        .where(eq(sessions.id, id))
      return row
    },

    /** A refresh moved the session's end to its new refresh token's expiry, from this client, now. */
    async extendSession(db: DbOrTx, id: string, expiresAt: Date, client: SessionClient, at: Date): Promise<void> {
      await db
        .update(sessions)
        .set({ expiresAt, lastUsedAt: at, ...client })
        .where(eq(sessions.id, id))
    },

    /** A request with one of its access tokens: move lastUsedAt forward (never back: another instance may have written a later use). */
    async touchSession(db: DbOrTx, id: string, at: Date): Promise<void> {
      await db
        .update(sessions)
        .set({ lastUsedAt: at })
        .where(and(eq(sessions.id, id), isNull(sessions.endedAt), lt(sessions.lastUsedAt, at)))
    },

    /** End one session (if it is still open): true when this call ended it. */
    async endSession(db: DbOrTx, id: string, at: Date): Promise<boolean> {
      const rows = await db
        .update(sessions)
        .set({ endedAt: at })
        .where(and(eq(sessions.id, id), isNull(sessions.endedAt)))
        .returning({ id: sessions.id })
      return rows.length === 1
    },

    /** End every open session of a user; their ids. */
    async endSessionsOf(db: DbOrTx, userId: string, at: Date): Promise<string[]> {
      const rows = await db
        .update(sessions)
        .set({ endedAt: at })
        .where(and(eq(sessions.userId, userId), isNull(sessions.endedAt)))
        .returning({ id: sessions.id })
      return rows.map((r) => r.id)
    },

    /** Forget a deleted user's sessions and refresh tokens; the sessions' ids. */
    async deleteForUser(db: DbOrTx, userId: string): Promise<string[]> {
      await db.delete(refreshTokens).where(eq(refreshTokens.userId, userId))
      const rows = await db.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id })
      return rows.map((r) => r.id)
    },

    async insertToken(db: DbOrTx, values: NewRefreshToken): Promise<void> {
      await db.insert(refreshTokens).values(values)
    },

    async findTokenByHash(db: DbOrTx, tokenHash: string) {
      const [row] = await db
        .select({
          id: refreshTokens.id,
          userId: refreshTokens.userId,
          familyId: refreshTokens.familyId,
          tokenVersion: refreshTokens.tokenVersion,
          expiresAt: refreshTokens.expiresAt,
          usedAt: refreshTokens.usedAt,
        })
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, tokenHash))
      return row
    },

    /** Spend a token: true only for the one caller that found it unspent. */
    async markUsed(db: DbOrTx, id: string, at: Date): Promise<boolean> {
      const rows = await db
        .update(refreshTokens)
        .set({ usedAt: at })
        .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt)))
        .returning({ id: refreshTokens.id })
      return rows.length === 1
    },

    /**
     * Forget what ended or expired over `graceHours` ago: sessions and all their refresh tokens, and
     * expired refresh tokens of live sessions (a spent token is kept while it can still be replayed).
     * The number of refresh tokens deleted.
     */
    async purgeStale(db: DbOrTx, graceHours: number): Promise<number> {
      const before = sql`now() - make_interval(hours => ${graceHours})`
      const stale = or(lt(sessions.endedAt, before), lt(sessions.expiresAt, before))
      const staleSessions = db.select({ id: sessions.id }).from(sessions).where(stale)
      const tokens = await db
        .delete(refreshTokens)
        .where(or(lt(refreshTokens.expiresAt, before), inArray(refreshTokens.familyId, staleSessions)))
        .returning({ id: refreshTokens.id })
      await db.delete(sessions).where(stale)
      return tokens.length
    },
  }
}

export type AuthRepository = ReturnType<typeof createAuthRepository>
