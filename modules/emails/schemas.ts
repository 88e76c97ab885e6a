// Emails' TypeBox schemas: the outbox row as the API shows it and the admin list query.
import { Type, type Static } from '@sinclair/typebox'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { UUID_PATTERN } from '../../src/lib/ids.js'
import { EMAIL_STATUSES } from './tables.js'
import { TEMPLATE_NAMES } from './templates.js'

const Timestamp = Type.String({ format: 'date-time' })
export const EmailStatus = Type.Union(EMAIL_STATUSES.map((s) => Type.Literal(s)))
export const TemplateNameSchema = Type.Union(TEMPLATE_NAMES.map((n) => Type.Literal(n)))

export const EmailSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    to: Type.String(),
    template: Type.String(),
    subject: Type.String(),
    text: Type.String(),
    status: EmailStatus,
    attempts: Type.Integer({ minimum: 0 }),
    lastError: Type.Union([Type.String(), Type.Null()]),
    providerMessageId: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
    sentAt: Type.Union([Timestamp, Type.Null()]),
  },
  { description: 'An email in the outbox' },
)
export type Email = Static<typeof EmailSchema>

export const emailList = defineList({
  sort: { createdAt: 'timestamp', sentAt: 'timestamp', status: 'text', to: 'text', attempts: 'integer' },
  defaultSort: '-createdAt',
  filters: {
    status: Type.Optional(EmailStatus),
    template: Type.Optional(TemplateNameSchema),
    to: Type.Optional(Type.String({ maxLength: 320, description: 'Exact recipient address' })),
  },
})
export type EmailFilterValues = FiltersOf<typeof emailList>

/** The send-email job payload: the outbox row to send. */
export const SendEmailJob = Type.Object({ emailId: Type.String({ pattern: UUID_PATTERN }) })
