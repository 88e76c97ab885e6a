// Products: HTTP only — schemas in, a service call, the envelope out. ETag, If-None-Match and If-Match live here.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity, publicRoute } from '../../plugins/auth.js'
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
import { ProductNotFoundError, StaleProductError } from './errors.js'
import { Ref } from '../../src/lib/schemas.js'
import { resourcePath } from '../../src/lib/urls.js'
import type { ProductService } from './service.js'
import {
  CreateProductBody,
  PatchProductBody,
  ProductPage,
  ProductParams,
  ProductResponse,
  ReplaceProductBody,
  productList,
} from './schemas.js'

const tags = ['products']
const security = authSecurity

export function productRoutes(fastify: FastifyInstance, service: ProductService) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get(
    '',
    {
      schema: {
        operationId: 'listProducts',
        tags,
        summary: 'List products',
        description:
          'Public. Filters: `status`, `q` (name contains, case-insensitive), `minPrice`, `maxPrice`, `ownerId`; removed listings never appear. ' +
          'Offset pages (`limit` with `offset` or `page`) carry `meta.total`; an empty `cursor` starts a keyset walk whose pages carry `meta.nextCursor` instead. ' +
          '`fields=id,name` returns (and selects) only those fields.',
        security: publicRoute,
        querystring: productList.query,
        response: { 200: Ref(ProductPage), ...errorResponses() },
      },
    },
    async (request) => {
      const { list, filters } = productList.parse(request.query)
      const { items, meta } = await service.list(filters, list)
      return page(items, meta)
    },
  )

  app.get(
    '/:id',
    {
      schema: {
        operationId: 'getProduct',
        tags,
        summary: 'Get a product',
        description:
          'Public, served from the cache. The ETag is the product version: send it back in If-None-Match for a 304 while it is current.',
        security: publicRoute,
        params: ProductParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(ProductResponse), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(ProductNotFoundError),
        },
      },
    },
    async (request, reply) => sendVersioned(request, reply, await service.get(request.params.id)),
  )

  app.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'createProduct',
        tags,
        summary: 'Create a product',
        description: 'You become its owner (the seller). Answers 201 with the product, its Location and its ETag.',
        security,
        body: Ref(CreateProductBody),
        response: {
          201: { ...Ref(ProductResponse), headers: { location: Type.String({ description: 'The new product' }), ...EtagHeader } },
          ...errorResponses(401, 403),
        },
      },
    },
    async (request, reply) => {
      const product = await service.create(request.user!, request.body)
      reply.header('etag', etagOf(product.version)).header('location', resourcePath(app.prefix, product.id))
      return reply.code(201).send(ok(product))
    },
  )

  const updateResponses = {
    200: { ...Ref(ProductResponse), headers: EtagHeader },
    ...errorResponses(401, 403, ProductNotFoundError, StaleProductError),
  }

  app.put(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'replaceProduct',
        tags,
        summary: 'Replace a product',
        description:
          'Every editable field is required (a missing one is a 400). The owner, moderators and admins may. ' +
          'With If-Match, only the version you read is replaced (412 when it moved on); without it, the current one is.',
        security,
        params: ProductParams,
        headers: IfMatchHeaders,
        body: Ref(ReplaceProductBody),
        response: updateResponses,
      },
    },
    async (request, reply) => {
      const product = await service.replace(request.user!, request.params.id, request.body, parseIfMatch(request.headers['if-match']))
      reply.header('etag', etagOf(product.version))
      return ok(product)
    },
  )

  app.patch(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'updateProduct',
        tags,
        summary: 'Change some fields of a product',
        description:
          'Only the fields sent are written; the others (the stock that orders take, say) are left as they are. The owner, moderators and admins may. ' +
          'With If-Match, only the version you read is changed (412 when it moved on).',
        security,
        params: ProductParams,
        headers: IfMatchHeaders,
        body: Ref(PatchProductBody),
        response: updateResponses,
      },
    },
    async (request, reply) => {
      const product = await service.patch(request.user!, request.params.id, request.body, parseIfMatch(request.headers['if-match']))
      reply.header('etag', etagOf(product.version))
      return ok(product)
    },
  )

  app.delete(
    '/:id',
    {
      preHandler: app.requirePermission('delete'),
      schema: {
        operationId: 'deleteProduct',
        tags,
        summary: 'Remove a listing',
        description:
          'Moderators and admins (the `delete` permission). A soft delete: orders keep pointing at it; the product then answers 404.',
        security,
        params: ProductParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(401, 403, ProductNotFoundError) },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
