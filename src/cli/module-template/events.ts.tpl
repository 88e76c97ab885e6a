// __Name__: business events, published in the transaction of the change. One of __name__ is private
// to its owner: its events go to the owner and to staff (moderators and admins).
import { Type } from '@sinclair/typebox'
import { defineEvent, type Audience } from '../../plugins/events.js'
import { __Item__Schema, type __Item__ } from './schemas.js'

const ownerAndStaff = (item: __Item__): Audience => ({ users: [item.ownerId], roles: ['moderator', 'admin'] })
// The item as the API shows it (the named component's properties, without its $id).
const __Item__EventSchema = Type.Object(__Item__Schema.properties)

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
