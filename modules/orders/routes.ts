// Orders: HTTP only — schemas in, a service call, the envelope out.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, page, Page, Success } from '../../src/lib/envelope.js'
import type { OrderService } from './service.js'
import { CreateOrderBody, CreateOrderHeaders, orderList, OrderParams, OrderSchema } from './schemas.js'

const tags = ['orders']
const security = authSecurity

export function orderRoutes(app: FastifyInstance, service: OrderService) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()

  r.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Place an order (one transaction; Idempotency-Key makes retries safe)',
        description:
          'Reserves stock for every item or for none. 409 INSUFFICIENT_STOCK names the product that ran short; ' +
          '422 for an unknown or inactive product, an empty or repeated item list, or an Idempotency-Key reused with a different body. ' +
          'A retry with the same key and body answers the first response (header `idempotent-replayed: true`).',
        security,
        headers: CreateOrderHeaders,
        body: CreateOrderBody,
        response: {
          201: {
            ...Success(OrderSchema, 'Order placed (or the replay of the first response for this Idempotency-Key)'),
            headers: {
              location: Type.String(),
              'idempotent-replayed': Type.String({
                description: '"true" when this is the stored response of an earlier request with the same key',
              }),
            },
          },
          ...errorResponses(401, 403, 409, 422),
        },
      },
    },
    async (request, reply) => {
      const placed = await service.place(request.user!, request.body, request.headers['idempotency-key'])
      if (placed.replayed) reply.header('idempotent-replayed', 'true')
      return reply.code(201).header('location', `${app.prefix}/${placed.order.id}`).send(ok(placed.order))
    },
  )

  r.get(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: "List orders (your own; everybody's for moderators and admins), items included",
        security,
        querystring: orderList.query,
        response: { 200: Page(OrderSchema, 'A page of orders'), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = orderList.parse(request.query)
      const { items, meta } = await service.list(request.user!, filters, list)
      return page(items, meta)
    },
  )

  r.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        tags,
        summary: 'Get an order (its buyer, moderators and admins)',
        security,
        params: OrderParams,
        response: { 200: Success(OrderSchema, 'The order'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ok(await service.get(request.user!, request.params.id)),
  )

  r.post(
    '/:id/cancel',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Cancel an order and give its stock back',
        security,
        params: OrderParams,
        response: { 200: Success(OrderSchema, 'The cancelled order'), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => ok(await service.cancel(request.user!, request.params.id)),
  )
}
