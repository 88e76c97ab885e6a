// Orders: HTTP only — schemas in, a service call, the envelope out. Location, ETag and Idempotency-Key headers live here.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, page } from '../../src/lib/envelope.js'
import { EtagHeader, etagOf, IfNoneMatchHeaders, NotModifiedResponse, sendVersioned } from '../../src/lib/conditional.js'
import {
  IdempotencyKeyReusedError,
  InsufficientStockError,
  InvalidOrderItemsError,
  OrderNotCancellableError,
  OrderNotFoundError,
  ProductUnavailableError,
} from './errors.js'
import { Ref } from '../../src/lib/schemas.js'
import { resourcePath } from '../../src/lib/urls.js'
import type { OrderService } from './service.js'
import { CreateOrderBody, CreateOrderHeaders, OrderPage, OrderParams, OrderResponse, orderList } from './schemas.js'

const tags = ['orders']
const security = authSecurity

export function orderRoutes(fastify: FastifyInstance, service: OrderService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'createOrder',
        tags,
        summary: 'Place an order',
        description:
          'One transaction: stock is taken for every item or for none, at today’s prices, and `order.created` is published with it. ' +
          '409 INSUFFICIENT_STOCK names the product that ran short and what is left; 422 for an unknown or inactive product, ' +
          'an empty or repeated item list, or an Idempotency-Key reused with a different body. ' +
          'A retry with the same key and body answers the first response (header `idempotent-replayed: true`). ' +
          'The ETag is the order version.',
        security,
        headers: CreateOrderHeaders,
        body: Ref(CreateOrderBody),
        response: {
          201: {
            ...Ref(OrderResponse),
            description: 'Order placed (or the replay of the first response for this Idempotency-Key)',
            headers: {
              location: Type.String({ description: 'The new order' }),
              ...EtagHeader,
              'idempotent-replayed': Type.Optional(
                Type.String({ description: '"true" when this is the stored response of an earlier request with the same key' }),
              ),
            },
          },
          ...errorResponses(401, 403, InsufficientStockError, ProductUnavailableError, InvalidOrderItemsError, IdempotencyKeyReusedError),
        },
      },
    },
    async (request, reply) => {
      const placed = await service.place(request.user!, request.body, request.headers['idempotency-key'])
      if (placed.replayed) reply.header('idempotent-replayed', 'true')
      reply.header('etag', etagOf(placed.order.version)).header('location', resourcePath(app.prefix, placed.order.id))
      return reply.code(201).send(ok(placed.order))
    },
  )

  app.get(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'listOrders',
        tags,
        summary: 'List orders',
        description:
          "Your own orders; moderators and admins see everybody's (and may filter by `userId`). Filter by `status`; " +
          'sort by `createdAt` or `totalCents`. Each order carries its items: a page costs the same few statements whatever its size.',
        security,
        querystring: orderList.query,
        response: { 200: Ref(OrderPage), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = orderList.parse(request.query)
      const { items, meta } = await service.list(request.user!, filters, list)
      return page(items, meta)
    },
  )

  app.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'getOrder',
        tags,
        summary: 'Get an order',
        description:
          'Its buyer, moderators and admins. Anybody else gets 404: whether the order exists is not revealed. ' +
          'The ETag is the order version (it moves when the order is cancelled): send it back in If-None-Match for a 304 while it is current.',
        security,
        params: OrderParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(OrderResponse), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(401, 403, OrderNotFoundError),
        },
      },
    },
    async (request, reply) => sendVersioned(request, reply, await service.get(request.user!, request.params.id)),
  )

  app.post(
    '/:id/cancel',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'cancelOrder',
        tags,
        summary: 'Cancel an order',
        description:
          'Its buyer, moderators and admins. Gives the stock back and publishes `order.cancelled`, in one transaction. ' +
          'An order already cancelled is a 409 ORDER_NOT_CANCELLABLE. Answers the cancelled order with its new ETag.',
        security,
        params: OrderParams,
        response: {
          200: { ...Ref(OrderResponse), headers: EtagHeader },
          ...errorResponses(401, 403, OrderNotFoundError, OrderNotCancellableError),
        },
      },
    },
    async (request, reply) => {
      const cancelled = await service.cancel(request.user!, request.params.id)
      reply.header('etag', etagOf(cancelled.version))
      return ok(cancelled)
    },
  )
}
