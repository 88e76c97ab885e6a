// The users table: accounts, their role and status, and the token version that invalidates live access tokens.
import { check, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { sql } from 'drizzle-orm'

export const USER_ROLES = ['admin', 'moderator', 'user'] as const
export const USER_STATUSES = ['active', 'disabled'] as const

export const users = pgTable(
  'users',
  {
    id: uuid().primaryKey(),
    /** Always stored lowercased (the service normalises it), so the unique index is case-insensitive. */
    email: text().notNull(),
    name: text().notNull(),
    passwordHash: text().notNull(),
    role: text({ enum: USER_ROLES }).notNull().default('user'),
    status: text({ enum: USER_STATUSES }).notNull().default('active'),
    /** Bumped by logout-all, password change and disabling: access tokens carry it as `ver`. */
    tokenVersion: integer().notNull().default(0),
    createdAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('users_email_unique').on(t.email),
    check('users_email_lowercase', sql`${t.email} = lower(${t.email})`),
    check('users_role_valid', sql`${t.role} in ('admin', 'moderator', 'user')`),
    check('users_status_valid', sql`${t.status} in ('active', 'disabled')`),
  ],
)
