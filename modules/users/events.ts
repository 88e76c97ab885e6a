// Users' business events, published in the transaction of the change. An account is private: its
// events go to the user and to admins.
import { Type, type Static } from '@sinclair/typebox'
import { defineEvent, type Audience } from '../../plugins/events.js'
import { Email, Id, SafeString, StringEnum } from '../../src/lib/schemas.js'
import { USER_ROLES, USER_STATUSES } from './tables.js'

export const UserEventSchema = Type.Object({
  userId: Id(),
  email: Email(),
  name: SafeString(),
  role: StringEnum(USER_ROLES),
  status: StringEnum(USER_STATUSES),
})
export type UserEvent = Static<typeof UserEventSchema>

const userAndAdmins = (user: { userId: string }): Audience => ({ users: [user.userId], roles: ['admin'] })

export const userRegistered = defineEvent({
  name: 'user.registered',
  description: 'Someone signed up (POST /auth/register): the new account',
  schema: UserEventSchema,
  audience: userAndAdmins,
  audienceText: 'the user and admins',
})

export const userDeleted = defineEvent({
  name: 'user.deleted',
  description: 'An account was deleted; its sessions, keys and webhooks go with it',
  schema: Type.Object({ userId: Id() }),
  audience: userAndAdmins,
  audienceText: 'the user and admins',
})

export default [userRegistered, userDeleted]
