// Audit events: the response shape and the list query (TypeBox, named by $id so OpenAPI shows them
// as components), and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Id, Nullable, SafeString, StringEnum, Timestamp } from '../../src/lib/schemas.js'
import { AUDIT_ACTIONS, AUDIT_SUBJECT_TYPES, type AuditSubjectType } from './actions.js'

const Action = StringEnum(AUDIT_ACTIONS, { description: 'What happened' })
const SubjectType = StringEnum(AUDIT_SUBJECT_TYPES, { description: 'The kind of thing it happened to' })

const example = {
  id: '01936b8f-2b10-7c3d-8e2f-1a2b3c4d5e70',
  occurredAt: '2026-11-29T10:15:00.000Z',
  actorUserId: '01936b8e-5a10-7c3d-8e2f-1a2b3c4d5e6f',
  actorApiKeyId: null,
  action: 'user.role.changed',
  subjectType: 'user',
  subjectId: '01936b8e-9d40-7a1b-8c2d-3e4f5a6b7c8d',
  accountId: '01936b8e-9d40-7a1b-8c2d-3e4f5a6b7c8d',
  clientAddress: '203.0.113.7',
  requestId: '01936b8f-2b0f-7000-8000-9a8b7c6d5e4f',
  details: { from: 'user', to: 'moderator' },
}

export const AuditEventSchema = Type.Object(
  {
    id: Id(),
    occurredAt: Timestamp('When the change committed (its transaction began)'),
    actorUserId: Nullable(Id('Who did it; null: nobody signed in (a failed login, a sign-up)')),
    actorApiKeyId: Nullable(Id('The API key the actor used, if any')),
    action: Action,
    // OpenAPI 3.0: a nullable enum lists null among its values.
    subjectType: Type.Unsafe<AuditSubjectType | null>({
      type: 'string',
      enum: [...AUDIT_SUBJECT_TYPES, null],
      nullable: true,
      description: 'The kind of thing it happened to (null: nothing, e.g. a failed login for an unknown email)',
    }),
    subjectId: Nullable(Id('What it happened to')),
    accountId: Nullable(Id('The account the event concerns: its owner sees it')),
    clientAddress: Nullable(Type.String({ description: 'The client address of the request', examples: ['203.0.113.7'] })),
    requestId: Nullable(Type.String({ description: 'The `x-request-id` of the request (find its log lines)' })),
    details: Type.Record(Type.String(), Type.Unknown(), {
      description: 'What changed (e.g. `{ from, to }` of a role); never a secret or a password',
      examples: [{ from: 'user', to: 'moderator' }],
    }),
  },
  { $id: 'AuditEvent', description: 'A security-relevant change, recorded with the change itself', examples: [example] },
)
export type AuditEvent = Static<typeof AuditEventSchema>

export const auditEventList = defineList({
  sort: { occurredAt: 'timestamp' },
  defaultSort: '-occurredAt',
  cursor: true,
  filters: {
    actorId: Type.Optional(Id('Only what this user did')),
    apiKeyId: Type.Optional(Id('Only what was done with this API key')),
    accountId: Type.Optional(Id("Only events about this user's account")),
    subjectType: Type.Optional(SubjectType),
    subjectId: Type.Optional(Id('Only events about this user, session, API key or webhook')),
    action: Type.Optional(Action),
    from: Type.Optional(Timestamp('Only events at or after this time')),
    to: Type.Optional(Timestamp('Only events before this time')),
  },
})
export type AuditEventFilters = FiltersOf<typeof auditEventList>

/** The route's query: keyset pages only (newest first), so no offset, page, sort or fields. */
const { limit } = auditEventList.query.properties
export const AuditEventQuery = Type.Object(
  {
    limit,
    cursor: Type.Optional(
      SafeString({ maxLength: 1024, description: 'From `meta.nextCursor` of the previous page; omit for the newest events' }),
    ),
    ...auditEventList.spec.filters!,
  },
  { additionalProperties: false },
)

export const { page: AuditEventPage } = envelopes(AuditEventSchema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const auditEventSchemas = [AuditEventSchema, AuditEventPage]
