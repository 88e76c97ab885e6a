// Request and response shapes of the users module (TypeBox; types derived with Static).
import { Type, type Static } from '@sinclair/typebox'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { UUID_PATTERN } from '../../src/lib/ids.js'
import { PASSWORD_MAX_LENGTH } from './passwords.js'
import { USER_ROLES, USER_STATUSES } from './tables.js'

export const RoleSchema = Type.Union(
  USER_ROLES.map((r) => Type.Literal(r)),
  { description: 'admin, moderator or user' },
)
export const StatusSchema = Type.Union(
  USER_STATUSES.map((s) => Type.Literal(s)),
  { description: 'A disabled user cannot log in; its tokens and keys stop working' },
)

export const EmailSchema = Type.String({ format: 'email', minLength: 3, maxLength: 254, description: 'Stored lowercased' })
export const PasswordSchema = Type.String({
  minLength: 1,
  maxLength: PASSWORD_MAX_LENGTH,
  description: 'At least 10 characters, mixing at least two kinds (lowercase, uppercase, digits, symbols), not containing the email',
})
export const NameSchema = Type.String({ minLength: 1, maxLength: 100 })

export const UserSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    email: Type.String(),
    name: Type.String(),
    role: RoleSchema,
    status: StatusSchema,
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A user account (never includes the password hash)' },
)
export type UserDto = Static<typeof UserSchema>

export const UserParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'User id (UUID)' }) })

export const userList = defineList({
  sort: { createdAt: 'timestamp', email: 'text', name: 'text', role: 'text', status: 'text' },
  defaultSort: '-createdAt',
  filters: {
    role: Type.Optional(RoleSchema),
    status: Type.Optional(StatusSchema),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive match on email or name' })),
  },
})
export type UserFilters = FiltersOf<typeof userList>

export const UpdateUserBody = Type.Object(
  {
    name: Type.Optional(NameSchema),
    email: Type.Optional(EmailSchema),
    password: Type.Optional(PasswordSchema),
    currentPassword: Type.Optional(Type.String({ maxLength: PASSWORD_MAX_LENGTH, description: 'Required to change your own password' })),
    role: Type.Optional(RoleSchema),
    status: Type.Optional(StatusSchema),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description: 'Only admins change role and status. Changing the password or disabling signs the user out everywhere.',
  },
)
export type UpdateUserInput = Static<typeof UpdateUserBody>
