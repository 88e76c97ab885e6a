// __Name__: business events, published in the transaction of the change. One of __name__ is private
// to its owner: its events go to the owner and to staff (moderators and admins).
import { Type, type Static } from '@sinclair/typebox'
import { defineEvent, type Audience } from '../../plugins/events.js'
import { __Item__Schema } from './schemas.js'

const ownerAndStaff = (item: __Item__Event): Audience => ({ users: [item.ownerId], roles: ['moderator', 'admin'] })
/** The payload: the item as the API shows it, self-contained (the named component's properties, no $id). */
export const __Item__EventSchema = Type.Object(__Item__Schema.properties)
export type __Item__Event = Static<typeof __Item__EventSchema>

export const __camel__Created = defineEvent({
  name: '__item__.created',
  description: 'One of __name__ was created',
  schema: __Item__EventSchema,
  audience: ownerAndStaff,
  audienceText: 'the owner, moderators and admins',
})

export const __camel__Updated = defineEvent({
  name: '__item__.updated',
  description: 'One of __name__ was changed',
  schema: __Item__EventSchema,
  audience: ownerAndStaff,
  audienceText: 'the owner, moderators and admins',
})

export const __camel__Deleted = defineEvent({
  name: '__item__.deleted',
  description: 'One of __name__ was deleted',
  schema: __Item__EventSchema,
  audience: ownerAndStaff,
  audienceText: 'the owner, moderators and admins',
})

export default [__camel__Created, __camel__Updated, __camel__Deleted]
