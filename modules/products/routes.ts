// Products: HTTP only — schemas in, a service call, the envelope out. ETag/If-None-Match/If-Match live here.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity } from '../../plugins/auth.js'
import { errorResponses, ok, page, Page, Success } from '../../src/lib/envelope.js'
import { IfMatchHeaders, IfNoneMatchHeaders, isNotModified } from '../../src/lib/conditional.js'
import { parseList } from '../../src/lib/pagination.js'
import type { ProductService } from './service.js'
import {
  CreateProductBody,
  PatchProductBody,
  ProductListItemSchema,
  ProductListQuery,
  ProductParams,
  productListSpec,
  ProductSchema,
  ReplaceProductBody,
  type ProductFilters,
} from './schemas.js'

const tags = ['products']
const security = authSecurity
const etagHeader = { etag: Type.String({ description: 'The product version, for If-None-Match / If-Match' }) }

const etagOf = (version: number) => `"${version}"`

/** Versions named by an If-Match value ('*', any version, is null): the conditional UPDATE needs the numbers. */
export function parseEtags(header: string | undefined): number[] | null | undefined {
  if (header === undefined) return undefined
  if (header.trim() === '*') return null
  return header.split(',').map((tag) => {
    const m = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(tag)
    return m ? Number(m[1]) : -1
  })
}

export function productRoutes(app: FastifyInstance, service: ProductService) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const withEtag = (reply: FastifyReply, version: number) => reply.header('etag', etagOf(version))

  r.get(
    '/',
    {
      schema: {
        tags,
        summary: 'List products (public)',
        description:
          'Filters: status, q (name contains, case-insensitive), minPrice, maxPrice, ownerId. ' +
          'Offset pages (`limit`, `offset` or `page`) carry meta.total; `cursor` (from meta.nextCursor) switches to keyset pages without a total.',
        querystring: ProductListQuery,
        response: { 200: Page(ProductListItemSchema, 'A page of products'), ...errorResponses() },
      },
    },
    async (request) => {
      const { status, q, minPrice, maxPrice, ownerId, ...rest } = request.query as typeof request.query & ProductFilters
      const list = parseList(rest, productListSpec)
      const { items, meta } = await service.list({ status, q, minPrice, maxPrice, ownerId }, list)
      return page(items, meta)
    },
  )

  r.get(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Get a product (public; ETag, If-None-Match)',
        params: ProductParams,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Success(ProductSchema, 'The product'), headers: etagHeader },
          304: Type.Null({ description: 'Not modified: your copy (If-None-Match) is current' }),
          ...errorResponses(404),
        },
      },
    },
    async (request, reply) => {
      const product = await service.get(request.params.id)
      withEtag(reply, product.version)
      if (isNotModified(request.headers['if-none-match'], etagOf(product.version))) return reply.code(304).send(null)
      return ok(product)
    },
  )

  r.post(
    '/',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Create a product (you are its owner)',
        security,
        body: CreateProductBody,
        response: {
          201: { ...Success(ProductSchema, 'Created'), headers: { location: Type.String(), ...etagHeader } },
          ...errorResponses(401, 403),
        },
      },
    },
    async (request, reply) => {
      const product = await service.create(request.user!, request.body)
      withEtag(reply, product.version)
      return reply.code(201).header('location', `${app.prefix}/${product.id}`).send(ok(product))
    },
  )

  const updateResponses = { 200: { ...Success(ProductSchema, 'Updated'), headers: etagHeader }, ...errorResponses(401, 403, 404, 409, 412) }
  const expected = (header: string | undefined) => parseEtags(header) ?? undefined

  r.put(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Replace a product (every field; If-Match for optimistic concurrency)',
        security,
        params: ProductParams,
        headers: IfMatchHeaders,
        body: ReplaceProductBody,
        response: updateResponses,
      },
    },
    async (request, reply) => {
      const product = await service.replace(request.user!, request.params.id, request.body, expected(request.headers['if-match']))
      withEtag(reply, product.version)
      return ok(product)
    },
  )

  r.patch(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        tags,
        summary: 'Change some fields of a product (If-Match for optimistic concurrency)',
        security,
        params: ProductParams,
        headers: IfMatchHeaders,
        body: PatchProductBody,
        response: updateResponses,
      },
    },
    async (request, reply) => {
      const product = await service.patch(request.user!, request.params.id, request.body, expected(request.headers['if-match']))
      withEtag(reply, product.version)
      return ok(product)
    },
  )

  r.delete(
    '/:id',
    {
      preHandler: app.requirePermission('delete'),
      schema: {
        tags,
        summary: 'Remove a listing (moderators and admins)',
        security,
        params: ProductParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
