// Webhooks: HTTP only — subscriptions, their deliveries, and replays.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, page, Page, Success } from '../../src/lib/envelope.js'
import type { Principal } from '../../plugins/rbac.js'
import type { WebhookService } from './service.js'
import {
  CreateWebhookBody,
  deliveryList,
  DeliveryParams,
  DeliverySchema,
  WebhookCreatedSchema,
  webhookList,
  WebhookParams,
  WebhookSchema,
} from './schemas.js'

const tags = ['webhooks']
const security = authSecurity
const location = { location: Type.String({ description: 'URL of the new resource' }) }

export function webhookRoutes(app: FastifyInstance, service: WebhookService, prefix: string) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const principal = (request: { user: Principal | null }) => request.user!

  r.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Subscribe a URL to events (the signing secret is shown once)',
        description:
          'Deliveries are POSTed as JSON `{type, timestamp, data}` and signed per Standard Webhooks: headers `webhook-id`, ' +
          '`webhook-timestamp`, `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the base64-decoded part of the secret after `whsec_`). ' +
          'URLs resolving to private, loopback or link-local addresses are refused (400 UNSAFE_WEBHOOK_URL) unless the server sets WEBHOOK_ALLOW_PRIVATE.',
        security,
        body: CreateWebhookBody,
        response: {
          201: { ...Success(WebhookCreatedSchema, 'Created; store the secret now'), headers: location },
          ...errorResponses(401, 403),
        },
      },
    },
    async (request, reply) => {
      const created = await service.create(principal(request), request.body)
      return reply.code(201).header('location', `${prefix}/${created.id}`).send(ok(created))
    },
  )

  r.get(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'List webhooks (your own; admins see all)',
        description: 'Filters: active, event.',
        security,
        querystring: webhookList.query,
        response: { 200: Page(WebhookSchema, 'A page of webhooks'), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = webhookList.parse(request.query)
      const { items, meta } = await service.list(principal(request), filters, list)
      return page(items, meta)
    },
  )

  r.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'Get a webhook (owner or admin)',
        security,
        params: WebhookParams,
        response: { 200: Success(WebhookSchema, 'The webhook'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ok(await service.get(principal(request), request.params.id)),
  )

  r.delete(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Delete a webhook and its deliveries (owner or admin)',
        security,
        params: WebhookParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await service.remove(principal(request), request.params.id)
      return reply.code(204).send(null)
    },
  )

  r.get(
    '/:id/deliveries',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: "List a webhook's deliveries (owner or admin)",
        description: 'Filters: status (pending, succeeded, failed, dead), event.',
        security,
        params: WebhookParams,
        querystring: deliveryList.query,
        response: { 200: Page(DeliverySchema, 'A page of deliveries'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const { list, filters } = deliveryList.parse(request.query)
      const { items, meta } = await service.deliveries(principal(request), request.params.id, filters, list)
      return page(items, meta)
    },
  )

  r.get(
    '/:id/deliveries/:deliveryId',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'Get one delivery (owner or admin)',
        security,
        params: DeliveryParams,
        response: { 200: Success(DeliverySchema, 'The delivery'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ok(await service.delivery(principal(request), request.params.id, request.params.deliveryId)),
  )

  r.post(
    '/:id/deliveries/:deliveryId/replay',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Send a delivery again (a new delivery with the same payload)',
        security,
        params: DeliveryParams,
        response: {
          202: { ...Success(DeliverySchema, 'Accepted: the new delivery, queued'), headers: location },
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { id, deliveryId } = request.params
      const replay = await service.replay(principal(request), id, deliveryId)
      return reply.code(202).header('location', `${prefix}/${id}/deliveries/${replay.id}`).send(ok(replay))
    },
  )
}
