// Emails: the outbox row as the API shows it (TypeBox, named by $id so OpenAPI shows it as a
// component), the admin list definition, the send-email job's payload, and the types derived from them.
import { Type, type Static } from '@sinclair/typebox'
import { envelopes } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Email, Id, Int, Nullable, StringEnum, Timestamp } from '../../src/lib/schemas.js'
import { EMAIL_STATUSES } from './tables.js'
import { TEMPLATE_NAMES } from './templates.js'

const EmailStatus = StringEnum(EMAIL_STATUSES, {
  description: '`queued` until sent; `failed` after a permanent SMTP error or EMAIL_MAX_ATTEMPTS attempts',
})
const TemplateName = StringEnum(TEMPLATE_NAMES, { description: 'The template it was rendered from' })

const example = {
  id: '01936b92-3b4c-7d5e-8f6a-7b8c9d0e1f2a',
  to: 'ada@example.com',
  template: 'order-confirmation',
  subject: 'Order 01936b90-1f2e-7a3b-8c4d-5e6f7a8b9c0d confirmed',
  text: 'Hello Ada,\n\nThank you for your order.\n...',
  status: 'sent',
  attempts: 1,
  lastError: null,
  providerMessageId: '<01936b92-3c00-7000-8000-000000000000@log.keel>',
  eventId: '01936b90-1f30-7000-8000-000000000001',
  createdAt: '2026-11-29T10:15:00.300Z',
  sentAt: '2026-11-29T10:15:01.020Z',
}

export const EmailSchema = Type.Object(
  {
    id: Id(),
    to: Email({ description: 'The recipient' }),
    template: TemplateName,
    subject: Type.String(),
    text: Type.String({ description: 'The plain-text body' }),
    status: EmailStatus,
    attempts: Int({ description: 'Delivery attempts so far' }),
    lastError: Nullable(Type.String({ description: 'The last delivery error' })),
    providerMessageId: Nullable(Type.String({ description: 'The Message-ID the transport gave it' })),
    eventId: Nullable(Id('The business event that caused it (one email per event and template); null when sent directly')),
    createdAt: Timestamp('When it was queued'),
    sentAt: Nullable(Timestamp()),
  },
  { $id: 'Email', description: 'An email in the outbox', examples: [example] },
)
export type Email = Static<typeof EmailSchema>

export const emailList = defineList({
  sort: { createdAt: 'timestamp', sentAt: 'timestamp', status: 'text', to: 'text', attempts: 'integer' },
  defaultSort: '-createdAt',
  filters: {
    status: Type.Optional(EmailStatus),
    template: Type.Optional(TemplateName),
    to: Type.Optional(Email({ description: 'Exact recipient address' })),
  },
})
export type EmailFilters = FiltersOf<typeof emailList>

/** The send-email job's payload: the outbox row to send. */
export const SendEmailJob = Type.Object({ emailId: Id() })

export const { page: EmailPage } = envelopes(EmailSchema)

/** Registered (addSchema) by the module plugin, so routes can Ref() them and OpenAPI names them. */
export const emailSchemas = [EmailSchema, EmailPage]
