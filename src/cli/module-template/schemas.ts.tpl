// __Name__ request and response schemas (TypeBox); TypeScript types are derived with Static.
import { Type, type Static } from '@sinclair/typebox'
import { ListQuery, type ListSpec } from '../../src/lib/pagination.js'
import { UUID_PATTERN } from '../../src/lib/ids.js'

export const __Item__Schema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    ownerId: Type.String({ format: 'uuid' }),
    name: Type.String(),
    description: Type.String(),
    version: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { title: '__Item__' },
)
export type __Item__ = Static<typeof __Item__Schema>

export const Create__Item__Schema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
  },
  { additionalProperties: false },
)
export type Create__Item__ = Static<typeof Create__Item__Schema>

export const Update__Item__Schema = Type.Partial(Create__Item__Schema, { additionalProperties: false, minProperties: 1 })
export type Update__Item__ = Static<typeof Update__Item__Schema>

export const IdParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'UUID' }) })

export const listSpec: ListSpec = { sort: ['createdAt', 'name'], defaultSort: '-createdAt' }
export const __Item__ListQuery = ListQuery(listSpec, {
  ownerId: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive match on name' })),
})
export type __Item__Filters = { ownerId?: string; q?: string }
