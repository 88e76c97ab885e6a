// Webhooks' TypeBox schemas: subscriptions, deliveries, list queries, the event and job payloads.
import { Type, type Static } from '@sinclair/typebox'
import { defineList, type FiltersOf } from '../../src/lib/pagination.js'
import { UUID_PATTERN } from '../../src/lib/ids.js'
import { DELIVERY_STATUSES, WEBHOOK_EVENTS } from './tables.js'

const Timestamp = Type.String({ format: 'date-time' })
const Id = Type.String({ format: 'uuid' })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()])

export const WebhookEvent = Type.Union(
  WEBHOOK_EVENTS.map((e) => Type.Literal(e)),
  { description: 'Event type' },
)
export type WebhookEventType = Static<typeof WebhookEvent>
export const DeliveryStatus = Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s)))

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({
      format: 'uri',
      pattern: '^https?://',
      maxLength: 2048,
      description: 'Where deliveries are POSTed (http or https; public addresses only unless WEBHOOK_ALLOW_PRIVATE)',
    }),
    events: Type.Array(WebhookEvent, { minItems: 1, uniqueItems: true, description: 'Events to receive' }),
  },
  { additionalProperties: false },
)
export type CreateWebhookInput = Static<typeof CreateWebhookBody>

export const WebhookSchema = Type.Object(
  {
    id: Id,
    ownerId: Id,
    url: Type.String(),
    events: Type.Array(Type.String()),
    active: Type.Boolean(),
    createdAt: Timestamp,
  },
  { description: 'A webhook subscription (its secret is only shown at creation)' },
)
export type Webhook = Static<typeof WebhookSchema>

export const WebhookCreatedSchema = Type.Object(
  {
    ...WebhookSchema.properties,
    secret: Type.String({ description: 'The signing secret, `whsec_<base64>`. Shown once: store it now.' }),
  },
  { description: 'The new subscription and its signing secret' },
)
export type WebhookCreated = Static<typeof WebhookCreatedSchema>

export const DeliverySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'Also the webhook-id header the receiver sees' }),
    webhookId: Id,
    event: Type.String(),
    payload: Type.Unknown({ description: '{ type, timestamp, data } — the exact JSON body POSTed' }),
    status: DeliveryStatus,
    attempts: Type.Integer({ minimum: 0 }),
    lastStatusCode: Nullable(Type.Integer()),
    lastError: Nullable(Type.String()),
    requestId: Nullable(Type.String({ description: 'x-request-id of the request that caused the event' })),
    replayOf: Nullable(Type.String({ format: 'uuid', description: 'The delivery this one replays' })),
    nextAttemptAt: Nullable(Timestamp),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { description: 'One event sent to one subscription' },
)
export type Delivery = Static<typeof DeliverySchema>

export const WebhookParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) })
export const DeliveryParams = Type.Object({
  id: Type.String({ pattern: UUID_PATTERN }),
  deliveryId: Type.String({ pattern: UUID_PATTERN }),
})

export const webhookList = defineList({
  sort: { createdAt: 'timestamp', url: 'text' },
  defaultSort: '-createdAt',
  filters: { active: Type.Optional(Type.Boolean()), event: Type.Optional(WebhookEvent) },
})
export type WebhookFilters = FiltersOf<typeof webhookList>

export const deliveryList = defineList({
  sort: { createdAt: 'timestamp', updatedAt: 'timestamp', status: 'text', attempts: 'integer' },
  defaultSort: '-createdAt',
  filters: { status: Type.Optional(DeliveryStatus), event: Type.Optional(WebhookEvent) },
})
export type DeliveryFilters = FiltersOf<typeof deliveryList>

/** The deliver-webhook job: the delivery row to attempt. */
export const DeliverJob = Type.Object({ deliveryId: Type.String({ pattern: UUID_PATTERN }) })
