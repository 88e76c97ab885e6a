// Webhooks: HTTP only — subscriptions (created, changed, paused, their secret rotated), their
// delivery logs, attempts and replays; schemas in, a service call, the envelope out. Location and
// ETag headers, and Cache-Control on the secret, live here.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, page } from '../../src/lib/envelope.js'
import {
  EtagHeader,
  etagOf,
  IfMatchHeaders,
  IfNoneMatchHeaders,
  NotModifiedResponse,
  parseIfMatch,
  sendVersioned,
} from '../../src/lib/conditional.js'
import { LoginRefusedError } from '../../plugins/rate-limit/index.js'
import { EmailNotVerifiedError } from '../users/contract.js'
import {
  DeliveryNotFoundError,
  DeliveryNotReplayableError,
  RotateOthersSecretError,
  StaleWebhookError,
  UnsafeWebhookUrlError,
  WebhookLimitError,
  WebhookNotFoundError,
} from './errors.js'
import { Ref } from '../../src/lib/schemas.js'
import { resourcePath } from '../../src/lib/urls.js'
import type { WebhookService } from './service.js'
import {
  CreateWebhookBody,
  DeliveryAttemptList,
  DeliveryPage,
  DeliveryParams,
  DeliveryResponse,
  deliveryList,
  UpdateWebhookBody,
  WebhookCreatedResponse,
  WebhookPage,
  WebhookParams,
  WebhookResponse,
  WebhookSecretResponse,
  webhookList,
} from './schemas.js'

const tags = ['webhooks']
const security = authSecurity

export function webhookRoutes(fastify: FastifyInstance, service: WebhookService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'createWebhook',
        tags,
        summary: 'Subscribe a URL to events',
        description:
          'You become its owner: it receives only the events you may read (an order event reaches the buyer and staff; a product event, everyone). ' +
          'Deliveries are POSTed as JSON `{type, timestamp, data}` and signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the `secret` in this response — shown once, so the response is `Cache-Control: no-store`. ' +
          'A URL that does not resolve to public addresses is refused (400 UNSAFE_WEBHOOK_URL; private addresses are allowed when the server sets WEBHOOK_ALLOW_PRIVATE, cloud metadata never). ' +
          'Each user may have WEBHOOKS_MAX_PER_USER subscriptions (409 WEBHOOK_LIMIT_REACHED). ' +
          'A webhook outlives the session, so `currentPassword` is required (a wrong one counts as a failed login: 429 once the budget is spent), ' +
          'and a verified email when REQUIRE_VERIFIED_EMAIL_FOR names `webhooks` (the default; 403 EMAIL_NOT_VERIFIED).',
        security,
        body: Ref(CreateWebhookBody),
        response: {
          201: {
            ...Ref(WebhookCreatedResponse),
            headers: {
              location: Type.String({ description: 'The new webhook' }),
              ...EtagHeader,
              'cache-control': Type.String({ description: '`no-store`: the body carries the signing secret' }),
            },
          },
          ...errorResponses(UnsafeWebhookUrlError, 401, 403, EmailNotVerifiedError, WebhookLimitError, LoginRefusedError),
        },
      },
    },
    async (request, reply) => {
      await app.users.confirmPresence(request.user!, request.body.currentPassword, request.ip, 'webhooks')
      const created = await service.create(request.user!, request.body)
      reply
        .header('location', resourcePath(app.prefix, created.id))
        .header('etag', etagOf(created.version))
        .header('cache-control', 'no-store')
      return reply.code(201).send(ok(created))
    },
  )

  app.get(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'listWebhooks',
        tags,
        summary: 'List webhooks',
        description: "Your subscriptions; admins see everybody's. Filter `event` (those that receive it); sort by `createdAt` or `url`.",
        security,
        querystring: webhookList.query,
        response: { 200: Ref(WebhookPage), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = webhookList.parse(request.query)
      const { items, meta } = await service.list(request.user!, filters, list)
      return page(items, meta)
    },
  )

  app.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'getWebhook',
        tags,
        summary: 'Get a webhook',
        description:
          'Its owner or an admin; anybody else gets 404. The secret is never shown again. ' +
          'The ETag is the subscription version: send it back in If-None-Match for a 304 while it is current.',
        security,
        params: WebhookParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(WebhookResponse), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(401, 403, WebhookNotFoundError),
        },
      },
    },
    async (request, reply) => sendVersioned(request, reply, await service.get(request.user!, request.params.id)),
  )

  app.patch(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'updateWebhook',
        tags,
        summary: 'Change, pause or resume a webhook',
        description:
          'Its owner or an admin. Only the fields sent change: `url` (the SSRF guard applies: 400 UNSAFE_WEBHOOK_URL), `events` (the whole list; each still reaches you only when you are in its audience), ' +
          '`active`: `false` pauses (nothing is queued while paused, and pending deliveries are not sent), `true` resumes — what was skipped is not replayed (replay a delivery to send it) — and re-enables a subscription Keel disabled for failing (`disabledReason`). ' +
          'With If-Match, only the version you read is changed (412 when it moved on).',
        security,
        params: WebhookParams,
        headers: IfMatchHeaders,
        body: Ref(UpdateWebhookBody),
        response: {
          200: { ...Ref(WebhookResponse), headers: EtagHeader },
          ...errorResponses(UnsafeWebhookUrlError, 401, 403, WebhookNotFoundError, StaleWebhookError),
        },
      },
    },
    async (request, reply) => {
      const webhook = await service.update(request.user!, request.params.id, request.body, parseIfMatch(request.headers['if-match']))
      reply.header('etag', etagOf(webhook.version))
      return ok(webhook)
    },
  )

  app.post(
    '/:id/rotate-secret',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'rotateWebhookSecret',
        tags,
        summary: "Rotate a webhook's signing secret",
        description:
          "Its owner only (an admin gets 403: whoever holds a secret can sign deliveries the owner's receiver trusts). A new `secret`, shown once (`Cache-Control: no-store`). For WEBHOOK_SECRET_OVERLAP_SECONDS (`previousSecretExpiresAt`) deliveries carry two signatures in `webhook-signature`, " +
          '`v1,<new> v1,<previous>`, so a receiver verifies with either secret while it switches; after that, only the new one signs. With If-Match, only the version you read (412 when it moved on).',
        security,
        params: WebhookParams,
        headers: IfMatchHeaders,
        response: {
          200: {
            ...Ref(WebhookSecretResponse),
            headers: { ...EtagHeader, 'cache-control': Type.String({ description: '`no-store`: the body carries the signing secret' }) },
          },
          ...errorResponses(401, RotateOthersSecretError, WebhookNotFoundError, StaleWebhookError),
        },
      },
    },
    async (request, reply) => {
      const rotated = await service.rotateSecret(request.user!, request.params.id, parseIfMatch(request.headers['if-match']))
      reply.header('etag', etagOf(rotated.version)).header('cache-control', 'no-store')
      return ok(rotated)
    },
  )

  app.delete(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'deleteWebhook',
        tags,
        summary: 'Delete a webhook',
        description: 'Its owner or an admin. Its deliveries go with it: pending retries stop.',
        security,
        params: WebhookParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(401, 403, WebhookNotFoundError) },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/:id/deliveries',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'listWebhookDeliveries',
        tags,
        summary: "List a webhook's deliveries",
        description:
          'Its owner or an admin. Filters `status` (`pending`, `succeeded`, `failed`, `dead`) and `event`; sort by `createdAt`, `updatedAt`, `status`, `attempts`. ' +
          'Offset pages carry `meta.total`; an empty `cursor` starts a keyset walk whose pages carry `meta.nextCursor` instead.',
        security,
        params: WebhookParams,
        querystring: deliveryList.query,
        response: { 200: Ref(DeliveryPage), ...errorResponses(401, 403, WebhookNotFoundError) },
      },
    },
    async (request) => {
      const { list, filters } = deliveryList.parse(request.query)
      const { items, meta } = await service.deliveries(request.user!, request.params.id, filters, list)
      return page(items, meta)
    },
  )

  app.get(
    '/:id/deliveries/:deliveryId',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'getWebhookDelivery',
        tags,
        summary: 'Get a delivery',
        description:
          "The webhook's owner or an admin: the payload sent (only while the owner is in the event's audience, else `null`), the number of attempts, the last answer or error, when the next attempt is due (each attempt: `/attempts`). " +
          'The ETag is the delivery version (it moves with every attempt): poll with If-None-Match for a 304 while nothing changed.',
        security,
        params: DeliveryParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(DeliveryResponse), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(401, 403, WebhookNotFoundError, DeliveryNotFoundError),
        },
      },
    },
    async (request, reply) =>
      sendVersioned(request, reply, await service.delivery(request.user!, request.params.id, request.params.deliveryId)),
  )

  app.get(
    '/:id/deliveries/:deliveryId/attempts',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'listWebhookDeliveryAttempts',
        tags,
        summary: "List a delivery's attempts",
        description:
          "The webhook's owner or an admin. Every request sent for the delivery, oldest first: when, the receiver's status code, how long it took, why it failed (`ETIMEDOUT: no answer in time (5000 ms)`, `HTTP 503`, ...) " +
          'and the first 1 KiB of the answer. At most WEBHOOK_MAX_ATTEMPTS; a replay is a new delivery with attempts of its own.',
        security,
        params: DeliveryParams,
        response: { 200: Ref(DeliveryAttemptList), ...errorResponses(401, 403, WebhookNotFoundError, DeliveryNotFoundError) },
      },
    },
    async (request) => ok(await service.attempts(request.user!, request.params.id, request.params.deliveryId)),
  )

  app.post(
    '/:id/deliveries/:deliveryId/replay',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'replayWebhookDelivery',
        tags,
        summary: 'Send a delivery again',
        description:
          "The webhook's owner or an admin. A new delivery of the same event and payload (`replayOf` names the original), queued: 202 with its Location. " +
          "It is sent only if the owner may still receive the event; one whose owner is not in the event's audience (its payload not shown) cannot be replayed (409 DELIVERY_NOT_REPLAYABLE).",
        security,
        params: DeliveryParams,
        response: {
          202: { ...Ref(DeliveryResponse), headers: { location: Type.String({ description: 'The new delivery' }), ...EtagHeader } },
          ...errorResponses(401, 403, WebhookNotFoundError, DeliveryNotFoundError, DeliveryNotReplayableError),
        },
      },
    },
    async (request, reply) => {
      const { id, deliveryId } = request.params
      const replay = await service.replay(request.user!, id, deliveryId)
      reply.header('location', resourcePath(app.prefix, id, 'deliveries', replay.id)).header('etag', etagOf(replay.version))
      return reply.code(202).send(ok(replay))
    },
  )
}
