// The users table: accounts, their role and status, an optimistic-concurrency version, and the token
// version that ends every session of the user at once (logout everywhere, a new password, disabling);
// and the single-use tokens that emailed links carry (verify an email, reset a password, confirm a new
// address), stored only as SHA-256 hashes.
import { sql } from 'drizzle-orm'
import { boolean, check, index, integer, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn, timestamps, versionColumn } from '../../src/db/columns.js'

export const USER_ROLES = ['admin', 'moderator', 'user'] as const
export const USER_STATUSES = ['active', 'disabled'] as const

export const users = pgTable(
  'users',
  {
    id: idColumn(),
    /** Always stored lowercased (the service normalises it), so the unique index is case-insensitive. */
    email: text().notNull(),
    name: text().notNull(),
    passwordHash: text().notNull(),
    role: text({ enum: USER_ROLES }).notNull().default('user'),
    status: text({ enum: USER_STATUSES }).notNull().default('active'),
    /** Bumped by logout-all, password change and disabling: access and refresh tokens carry it (`ver`). */
    tokenVersion: integer().notNull().default(0),
    /**
     * Whether the owner proved they read mail at `email` (the link sent at sign-up or after an email
     * change). Sign-ups are inserted with false; accounts made by an admin, a script or the seed, and
     * those that existed before verification did, count as verified (the column's default).
     */
    emailVerified: boolean().notNull().default(true),
    version: versionColumn(),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('users_email_unique').on(t.email),
    check('users_email_lowercase', sql`${t.email} = lower(${t.email})`),
    check('users_role_valid', sql`${t.role} in ('admin', 'moderator', 'user')`),
    check('users_status_valid', sql`${t.status} in ('active', 'disabled')`),
    // The default listing (newest first); the active admins counted before a demotion.
    index('users_created_at_id_idx').on(t.createdAt, t.id),
    index('users_role_status_idx').on(t.role, t.status),
  ],
)

export const EMAIL_TOKEN_PURPOSES = ['verify-email', 'reset-password', 'change-email'] as const

export const emailTokens = pgTable(
  'email_tokens',
  {
    id: idColumn(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text({ enum: EMAIL_TOKEN_PURPOSES }).notNull(),
    /** SHA-256 of the token (hex); the token itself is never stored. */
    tokenHash: text().notNull(),
    /** The address a `change-email` token moves the account to once used. */
    newEmail: text(),
    expiresAt: timestampColumn().notNull(),
    /** Set when the token was used, or voided (a newer link, an email change, a reset): it never works again. */
    usedAt: timestampColumn(),
    createdAt: timestampColumn().notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('email_tokens_hash_unique').on(t.tokenHash),
    index('email_tokens_user_idx').on(t.userId),
    check('email_tokens_purpose_valid', sql`${t.purpose} in ('verify-email', 'reset-password', 'change-email')`),
  ],
)
