// Refresh tokens: opaque random strings stored only as SHA-256 hashes. Each login starts a family;
// every refresh spends one token and adds the next to the family. A spent token used again
// revokes the whole family (someone else has a copy).
import { index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid().primaryKey(),
    userId: uuid().notNull(),
    familyId: uuid().notNull(),
    tokenHash: text().notNull(),
    /** The user's token version at issue: a later bump (logout everywhere, password change, disabling) voids it. */
    tokenVersion: integer().notNull(),
    expiresAt: timestamp({ withTimezone: true, precision: 3 }).notNull(),
    usedAt: timestamp({ withTimezone: true, precision: 3 }),
    revokedAt: timestamp({ withTimezone: true, precision: 3 }),
    createdAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('refresh_tokens_hash_unique').on(t.tokenHash),
    index('refresh_tokens_family_idx').on(t.familyId),
    index('refresh_tokens_user_idx').on(t.userId),
  ],
)
