// Webhooks: request and response shapes (TypeBox, named by $id so OpenAPI shows them as components),
// the list definitions, the job payload, and the types derived from them. The event names a
// subscription may ask for are the event catalog's: their schema is built when the module registers.
import { Type, type Static } from '@sinclair/typebox'
import type { EventDefinition } from '../../plugins/events.js'
import { envelopes, Success } from '../../src/lib/envelope.js'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { Id, Int, Nullable, Ref, SafeString, StringEnum, Timestamp } from '../../src/lib/schemas.js'
import { DELIVERY_STATUSES } from './tables.js'
import { CurrentPasswordSchema } from '../users/contract.js'

const EVENT_TYPE_ID = 'WebhookEventType'

/** Every declared business event, by name (from `app.events.catalog()`), as a named schema. */
export function eventTypeSchema(catalog: readonly EventDefinition[]) {
  const names = catalog.map((e) => e.name).sort()
  return StringEnum(names, {
    $id: EVENT_TYPE_ID,
    description: 'A business event a subscription can receive; each reaches only the subscriptions whose owner is in its audience',
    examples: names.slice(0, 1),
  })
}
const EventType = Type.Unsafe<string>(Type.Ref(EVENT_TYPE_ID))

/** A filter on the event name: any well-formed name (one that is not declared matches nothing). */
const EventName = SafeString({
  pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$',
  maxLength: 100,
  description: 'Event type, e.g. order.created',
  examples: ['order.created'],
})

const Url = Type.String({
  format: 'uri',
  pattern: '^https?://',
  maxLength: 2048,
  description: 'Where deliveries are POSTed (http or https; public addresses only unless the server sets WEBHOOK_ALLOW_PRIVATE)',
  examples: ['https://hooks.example.com/keel'],
})

export const DeliveryStatus = StringEnum(DELIVERY_STATUSES, {
  description: '`pending` (queued or waiting for a retry), `succeeded`, `failed` (not retried) or `dead` (out of attempts)',
})

const webhookExample = {
  id: '01936b8e-9a4c-7b1d-8e2f-3a4b5c6d7e8f',
  ownerId: '01936b8e-5a10-7c3d-8e2f-1a2b3c4d5e6f',
  url: 'https://hooks.example.com/keel',
  events: ['order.created', 'product.updated'],
  active: true,
  disabledReason: null,
  consecutiveFailures: 0,
  previousSecretExpiresAt: null,
  version: 1,
  createdAt: '2026-11-29T10:15:00.000Z',
  updatedAt: '2026-11-29T10:15:00.000Z',
}

export const WebhookSchema = Type.Object(
  {
    id: Id(),
    ownerId: Id('Who subscribed: it receives only the events this user may read'),
    url: Url,
    events: Type.Array(Type.String(), { description: 'The event types it receives', examples: [webhookExample.events] }),
    active: Type.Boolean({
      description:
        'False: paused by its owner, or disabled by Keel for failing (`disabledReason`). An inactive subscription queues nothing.',
    }),
    disabledReason: Nullable(
      Type.String({
        description:
          'Why Keel disabled it: it failed WEBHOOK_DISABLE_AFTER_FAILURES attempts in a row. PATCH `{"active": true}` re-enables it.',
        examples: ['failed 50 attempts in a row (the last: HTTP 503)'],
      }),
    ),
    consecutiveFailures: Int({ description: 'Failed attempts in a row (a success resets it)' }),
    previousSecretExpiresAt: Nullable(
      Timestamp('After a secret rotation: until then deliveries are signed with the previous secret too (two `v1,` signatures)'),
    ),
    version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { $id: 'Webhook', description: 'A webhook subscription (its secret is only shown when it is created)', examples: [webhookExample] },
)
export type Webhook = Static<typeof WebhookSchema>

export const WebhookCreatedSchema = Type.Composite(
  [
    WebhookSchema,
    Type.Object({
      secret: Type.String({
        description: 'The signing secret, `whsec_<base64>`: shown once, store it now',
        examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZNt6ikDZ9U='],
      }),
    }),
  ],
  {
    $id: 'WebhookCreated',
    description: 'The new subscription and its signing secret',
    examples: [{ ...webhookExample, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4ZNt6ikDZ9U=' }],
  },
)
export type WebhookCreated = Static<typeof WebhookCreatedSchema>

export const CreateWebhookBody = Type.Object(
  {
    url: Url,
    events: Type.Array(EventType, { minItems: 1, maxItems: 50, uniqueItems: true, description: 'The event types to receive' }),
    currentPassword: CurrentPasswordSchema,
  },
  {
    $id: 'CreateWebhookRequest',
    additionalProperties: false,
    description:
      'A URL and the events to POST to it; you are its owner. `currentPassword` proves you are there (a webhook outlives the session)',
    examples: [{ url: webhookExample.url, events: webhookExample.events, currentPassword: 'Correct-Horse-9-Battery' }],
  },
)
export type CreateWebhookInput = Static<typeof CreateWebhookBody>

export const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(
      Type.Array(EventType, {
        minItems: 1,
        maxItems: 50,
        uniqueItems: true,
        description: 'The event types to receive (replaces the list)',
      }),
    ),
    active: Type.Optional(
      Type.Boolean({
        description:
          '`false` pauses deliveries (nothing is queued while paused; pending ones are not sent); `true` resumes (what was skipped is not replayed) and re-enables a subscription Keel disabled',
      }),
    ),
  },
  {
    $id: 'UpdateWebhookRequest',
    additionalProperties: false,
    minProperties: 1,
    description: 'The fields to change: URL (the SSRF guard applies), events, paused or not',
    examples: [{ active: false }, { url: 'https://hooks.example.com/keel-v2', events: ['order.created'] }],
  },
)
export type UpdateWebhookInput = Static<typeof UpdateWebhookBody>

const deliveryExample = {
  id: '01936b8f-0c2e-7a3b-9c4d-5e6f7a8b9c0d',
  webhookId: webhookExample.id,
  eventId: '01936b8f-0b1d-7f2a-8b3c-4d5e6f7a8b9c',
  event: 'product.updated',
  payload: {
    type: 'product.updated',
    timestamp: '2026-11-29T11:02:31.250Z',
    data: { productId: '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01', priceCents: 5400, changes: ['priceCents'] },
  },
  status: 'succeeded',
  attempts: 1,
  lastStatusCode: 204,
  lastError: null,
  replayOf: null,
  nextAttemptAt: null,
  version: 2,
  createdAt: '2026-11-29T11:02:31.260Z',
  updatedAt: '2026-11-29T11:02:31.410Z',
}

export const DeliverySchema = Type.Object(
  {
    id: Id('Also the webhook-id header the receiver sees (the same on every retry)'),
    webhookId: Id('The subscription'),
    eventId: Id('The business event delivered (a replay keeps the original event)'),
    event: Type.String({ description: 'Event type', examples: ['product.updated'] }),
    payload: Type.Unknown({
      description:
        "`{ type, timestamp, data }`: the exact JSON body POSTed. `null` when the subscription's owner is not (or no longer) in the event's audience: such a payload is not shown, and not kept when the delivery was refused for it.",
    }),
    status: DeliveryStatus,
    attempts: Int({ description: 'Requests sent so far' }),
    lastStatusCode: Nullable(Int({ maximum: 999, description: "The receiver's last answer" })),
    lastError: Nullable(
      Type.String({ description: 'Why the last attempt failed, or why the delivery was not sent (never what the host resolved to)' }),
    ),
    replayOf: Nullable(Id('The delivery this one replays')),
    nextAttemptAt: Nullable(Timestamp('When the next attempt is due (pending deliveries)')),
    version: Int({ minimum: 1, description: 'Increases on every change; the ETag' }),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { $id: 'Delivery', description: 'One event sent to one subscription', examples: [deliveryExample] },
)
export type Delivery = Static<typeof DeliverySchema>

const attemptExample = {
  attempt: 1,
  startedAt: '2026-11-29T11:02:31.300Z',
  durationMs: 112,
  statusCode: 503,
  error: 'HTTP 503',
  responseBody: '{"error":"maintenance"}',
}

export const DeliveryAttemptSchema = Type.Object(
  {
    attempt: Int({ minimum: 1, description: '1 for the first request of the delivery, 2 for the next, ...' }),
    startedAt: Timestamp('When the request was sent'),
    durationMs: Int({ description: 'Until the answer (or the error)' }),
    statusCode: Nullable(Int({ maximum: 999, description: "The receiver's answer; null when none came" })),
    error: Nullable(Type.String({ description: 'Why it failed (timeout, connection refused, HTTP 503, ...); null when it succeeded' })),
    responseBody: Nullable(Type.String({ description: "The first 1 KiB of the receiver's answer (UTF-8); null when none came" })),
  },
  { $id: 'DeliveryAttempt', description: 'One request sent for a delivery', examples: [attemptExample] },
)
export type DeliveryAttempt = Static<typeof DeliveryAttemptSchema>

export const DeliveryAttemptList = Type.Object(Success(Type.Array(Ref(DeliveryAttemptSchema))).properties, {
  $id: 'DeliveryAttemptList',
  description: "A delivery's attempts, oldest first (at most WEBHOOK_MAX_ATTEMPTS)",
})

export const WebhookParams = Type.Object({ id: Id('Webhook id') })
export const DeliveryParams = Type.Object({ id: Id('Webhook id'), deliveryId: Id('Delivery id') })

export const webhookList = defineList({
  sort: { createdAt: 'timestamp', url: 'text' },
  defaultSort: '-createdAt',
  filters: { event: Type.Optional({ ...EventName, description: 'Only subscriptions that receive this event type' }) },
})
export type WebhookFilters = FiltersOf<typeof webhookList>

export const deliveryList = defineList({
  sort: { createdAt: 'timestamp', updatedAt: 'timestamp', status: 'text', attempts: 'integer' },
  defaultSort: '-createdAt',
  cursor: true,
  filters: { status: Type.Optional(DeliveryStatus), event: Type.Optional(EventName) },
})
export type DeliveryFilters = FiltersOf<typeof deliveryList>

/** The deliver-webhook job: the delivery row to attempt. */
export const DeliverJob = Type.Object({ deliveryId: Id() })

export const { response: WebhookResponse, page: WebhookPage } = envelopes(WebhookSchema)
export const { response: WebhookCreatedResponse } = envelopes(WebhookCreatedSchema)
export const { response: DeliveryResponse, page: DeliveryPage } = envelopes(DeliverySchema)

const rotatedExample = {
  ...webhookExample,
  previousSecretExpiresAt: '2026-11-30T10:15:00.000Z',
  version: 2,
  secret: 'whsec_kJ0b3B1m6FqS9nVtY2xwZ3R5cHZ6a1h3bW5vcHFyc3Q=',
}
export const WebhookSecretSchema = Type.Composite([WebhookSchema, Type.Object({ secret: WebhookCreatedSchema.properties.secret })], {
  $id: 'WebhookSecret',
  description: 'The subscription after a rotation, with its new secret (shown once)',
  examples: [rotatedExample],
})
export type WebhookSecret = Static<typeof WebhookSecretSchema>
export const { response: WebhookSecretResponse } = envelopes(WebhookSecretSchema)

/** Registered (addSchema) by the module plugin, with eventTypeSchema(catalog), so routes can Ref() them. */
export const webhookSchemas = [
  WebhookSchema,
  WebhookCreatedSchema,
  DeliverySchema,
  DeliveryAttemptSchema,
  DeliveryAttemptList,
  CreateWebhookBody,
  UpdateWebhookBody,
  WebhookResponse,
  WebhookPage,
  WebhookCreatedResponse,
  DeliveryResponse,
  DeliveryPage,
  WebhookSecretSchema,
  WebhookSecretResponse,
]
