// API keys: only a SHA-256 hash of each key is stored, found by its public prefix. A rotated key's
// previous prefix and hash stay valid until previousValidUntil (the grace period).
import { index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid().primaryKey(),
    ownerId: uuid().notNull(),
    name: text(),
    prefix: text().notNull(),
    secretHash: text().notNull(),
    /** Permissions the key may use (intersected with the owner's role on every request). */
    scopes: text().array().notNull(),
    expiresAt: timestamp({ withTimezone: true, precision: 3 }),
    rateLimitMax: integer(),
    rateLimitWindowSeconds: integer(),
    previousPrefix: text(),
    previousSecretHash: text(),
    previousValidUntil: timestamp({ withTimezone: true, precision: 3 }),
    lastUsedAt: timestamp({ withTimezone: true, precision: 3 }),
    createdAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
    rotatedAt: timestamp({ withTimezone: true, precision: 3 }),
  },
  (t) => [
    uniqueIndex('api_keys_prefix_unique').on(t.prefix),
    uniqueIndex('api_keys_previous_prefix_unique').on(t.previousPrefix),
    index('api_keys_owner_created_idx').on(t.ownerId, t.createdAt),
  ],
)
