// The users table: accounts, their role and status, an optimistic-concurrency version, and the token
// version that ends every session of the user at once (logout everywhere, a new password, disabling).
import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core'
import { idColumn, timestamps, versionColumn } from '../../src/db/columns.js'

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
