// __Name__: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components),
// the list definition, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Id, Int, SafeString, SafeText, Timestamp } from '../../src/lib/schemas.js'

const Name = SafeString({ minLength: 1, maxLength: 200, examples: ['My first __item__'] })
const Description = SafeText({ maxLength: 5000, examples: ['What it is about'] })

export const __Item__Schema = Type.Object(
  {
    id: Id(),
    ownerId: Id('Who created it'),
    name: Name,
    description: Description,
    version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { $id: '__Item__', description: 'One of __name__' },
)
export type __Item__ = Static<typeof __Item__Schema>

export const Create__Item__Body = Type.Object(
  { name: Name, description: Type.Optional(Description) },
  { $id: 'Create__Item__Request', additionalProperties: false, examples: [{ name: 'My first __item__', description: 'What it is about' }] },
)
export type Create__Item__Input = Static<typeof Create__Item__Body>

export const Update__Item__Body = Type.Partial(Create__Item__Body, {
  $id: 'Update__Item__Request',
  additionalProperties: false,
  minProperties: 1,
  description: 'Only the fields to change',
  examples: [{ name: 'A better name' }],
})
export type Update__Item__Input = Static<typeof Update__Item__Body>

export const __Item__Params = Type.Object({ id: Id('__Item__ id') })

export const __camel__List = defineList({
  sort: { createdAt: 'timestamp', name: 'text' },
  defaultSort: '-createdAt',
  filters: {
    ownerId: Type.Optional(Id('Only this owner (moderators and admins; others always see their own)')),
    q: Type.Optional(SafeString({ minLength: 1, maxLength: 100, description: 'Case-insensitive substring of the name' })),
  },
})
export type __Item__Filters = FiltersOf<typeof __camel__List>

export const { response: __Item__Response, page: __Item__Page } = envelopes(__Item__Schema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const __camel__Schemas = [__Item__Schema, __Item__Response, __Item__Page, Create__Item__Body, Update__Item__Body]
