// Users: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components),
// the list definition, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Email, Id, Int, SafeString, StringEnum, Timestamp } from '../../src/lib/schemas.js'
import { PASSWORD_MAX_LENGTH } from './passwords.js'
import { USER_ROLES, USER_STATUSES } from './tables.js'

export const RoleSchema = StringEnum(USER_ROLES, { description: 'admin, moderator or user' })
export const StatusSchema = StringEnum(USER_STATUSES, {
  description: 'A disabled user cannot log in; its sessions and keys stop working at once',
})

export const EmailSchema = Email({ description: 'Stored lowercased' })
export const PasswordSchema = SafeString({
  minLength: 1,
  maxLength: PASSWORD_MAX_LENGTH,
  description: 'At least 10 characters, mixing at least two kinds (lowercase, uppercase, digits, symbols), not containing the email',
  examples: ['Correct-Horse-9-Battery'],
})
export const NameSchema = SafeString({ minLength: 1, maxLength: 100, description: 'Display name', examples: ['Ada Lovelace'] })

const example = {
  id: '01936b8e-5a10-7c3d-8e2f-1a2b3c4d5e6f',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  role: 'user',
  status: 'active',
  emailVerified: true,
  version: 2,
  createdAt: '2026-11-29T10:15:00.000Z',
  updatedAt: '2026-11-29T11:02:31.250Z',
}

export const UserSchema = Type.Object(
  {
    id: Id(),
    email: EmailSchema,
    name: NameSchema,
    role: RoleSchema,
    status: StatusSchema,
    emailVerified: Type.Boolean({
      description:
        'Whether the owner confirmed the address (the link sent at sign-up or after an email change); what an unverified account may not do is REQUIRE_VERIFIED_EMAIL_FOR',
    }),
    version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { $id: 'User', description: 'A user account (never includes the password hash)', examples: [example] },
)
export type User = Static<typeof UserSchema>

/** A list item: with `fields=`, only the id and the fields asked for. */
export const UserListItemSchema = Type.Composite([Type.Pick(UserSchema, ['id']), Type.Partial(Type.Omit(UserSchema, ['id']))], {
  $id: 'UserListItem',
  description: 'A user in a list: every field, or only the id and those named in `fields`',
  examples: [{ id: example.id, email: example.email, role: example.role }],
})
export type UserListItem = Static<typeof UserListItemSchema>

export const UserParams = Type.Object({ id: Id('User id') })

export const userList = defineList({
  sort: { createdAt: 'timestamp', email: 'text', name: 'text', role: 'text', status: 'text' },
  defaultSort: '-createdAt',
  fields: ['email', 'name', 'role', 'status', 'emailVerified', 'version', 'createdAt', 'updatedAt'],
  cursor: true,
  filters: {
    role: Type.Optional(RoleSchema),
    status: Type.Optional(StatusSchema),
    q: Type.Optional(
      SafeString({ minLength: 1, maxLength: 100, description: 'Case-insensitive substring of the email or the name', examples: ['ada'] }),
    ),
  },
})
export type UserFilters = FiltersOf<typeof userList>

/** Proof that the account's owner is present: the password, as at login (wrong ones count as failed logins). */
export const CurrentPasswordSchema = SafeString({
  maxLength: PASSWORD_MAX_LENGTH,
  description:
    'Your current password: proof that you are present, whatever the age of your access token; wrong ones count against your failed-login budget',
  examples: ['Correct-Horse-9-Battery'],
})

export const UpdateUserBody = Type.Object(
  {
    name: Type.Optional(NameSchema),
    password: Type.Optional(PasswordSchema),
    currentPassword: Type.Optional(CurrentPasswordSchema),
    role: Type.Optional(RoleSchema),
    status: Type.Optional(StatusSchema),
  },
  {
    $id: 'UpdateUserRequest',
    additionalProperties: false,
    minProperties: 1,
    description:
      'Only the fields to change. Only admins change role and status. A new password needs a bearer session (not an API key) and, for your own, `currentPassword`; a new password or disabling signs the user out everywhere. The email changes through POST /users/{id}/email.',
    examples: [{ name: 'Ada King' }, { password: 'Brand-New-Pass-7', currentPassword: 'Correct-Horse-9-Battery' }],
  },
)
export type UpdateUserInput = Static<typeof UpdateUserBody>

export const ChangeEmailBody = Type.Object(
  { email: EmailSchema, currentPassword: CurrentPasswordSchema },
  {
    $id: 'ChangeEmailRequest',
    additionalProperties: false,
    description: 'The new address (it must confirm through the link sent there) and your current password',
    examples: [{ email: 'ada.king@example.com', currentPassword: 'Correct-Horse-9-Battery' }],
  },
)
export type ChangeEmailInput = Static<typeof ChangeEmailBody>

/** An answer that says only that the request was taken: the same whatever it found (no account probing). */
export const AcceptedSchema = Type.Object(
  { message: Type.String({ description: 'What happens next' }) },
  {
    $id: 'Accepted',
    description: 'The request was taken; what follows happens by email',
    examples: [{ message: 'If the address can be used, a confirmation link is on its way to it' }],
  },
)
export type Accepted = Static<typeof AcceptedSchema>

export const { response: UserResponse, page: UserPage } = envelopes(UserSchema, UserListItemSchema)
export const { response: AcceptedResponse } = envelopes(AcceptedSchema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const userSchemas = [
  UserSchema,
  UserListItemSchema,
  UserResponse,
  UserPage,
  UpdateUserBody,
  ChangeEmailBody,
  AcceptedSchema,
  AcceptedResponse,
]
