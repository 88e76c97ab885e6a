// The api_keys table: only a SHA-256 hash of each key is stored, found by its public prefix. A rotated
// key's previous prefix and hash stay valid until previousValidUntil (the grace period).
import { index, integer, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn, versionColumn } from '../../src/db/columns.js'

export const apiKeys = pgTable(
  'api_keys',
  {
    id: idColumn(),
    ownerId: uuid().notNull(),
    name: text(),
    prefix: text().notNull(),
    secretHash: text().notNull(),
    /** Permissions the key may use (intersected with the owner's role on every request). */
    scopes: text().array().notNull(),
    expiresAt: timestampColumn(),
    rateLimitMax: integer(),
    rateLimitWindowSeconds: integer(),
    previousPrefix: text(),
    previousSecretHash: text(),
    previousValidUntil: timestampColumn(),
    lastUsedAt: timestampColumn(),
    /** Bumped by a rotation and by a lastUsedAt write (both change what GET shows): the key's ETag. */
    version: versionColumn(),
    createdAt: timestampColumn().notNull().defaultNow(),
    rotatedAt: timestampColumn(),
  },
  (t) => [
    uniqueIndex('api_keys_prefix_unique').on(t.prefix),
    uniqueIndex('api_keys_previous_prefix_unique').on(t.previousPrefix),
    // An owner's keys, newest first (the list, the per-user cap, deletion with the user).
    index('api_keys_owner_created_idx').on(t.ownerId, t.createdAt),
  ],
)
