// Sessions and their refresh tokens. A login opens a session; its access tokens name it (`sid`)
// and its refresh tokens belong to it (a family: every refresh spends one token and adds the next).
// Ending a session (logout, a spent refresh token used again) stops its refresh tokens and its live
// access tokens at once. Refresh tokens are opaque random strings stored only as SHA-256 hashes.
import { index, integer, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn } from '../../src/db/columns.js'

export const sessions = pgTable(
  'sessions',
  {
    id: idColumn(),
    userId: uuid().notNull(),
    createdAt: timestampColumn().notNull().defaultNow(),
    /** When its newest refresh token expires: the session ends then unless it is refreshed. */
    expiresAt: timestampColumn().notNull(),
    /** Set when the session was ended (logout, logout everywhere, refresh-token reuse, ended from the list). */
    endedAt: timestampColumn(),
    /** Its last use (a login, a refresh, or a request — written at most once per interval); the client address and user agent of its last login or refresh. */
    lastUsedAt: timestampColumn().notNull().defaultNow(),
    clientAddress: text(),
    userAgent: text(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
)

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: idColumn(),
    userId: uuid().notNull(),
    /** The session (refresh family) this token belongs to. */
    familyId: uuid().notNull(),
    tokenHash: text().notNull(),
    /** The user's token version at issue: a later bump (logout everywhere, password change, disabling) voids it. */
    tokenVersion: integer().notNull(),
    expiresAt: timestampColumn().notNull(),
    /** Spent by a refresh; presenting it again ends its session (someone else has a copy). */
    usedAt: timestampColumn(),
    createdAt: timestampColumn().notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('refresh_tokens_hash_unique').on(t.tokenHash),
    index('refresh_tokens_family_idx').on(t.familyId),
    index('refresh_tokens_user_idx').on(t.userId),
  ],
)
