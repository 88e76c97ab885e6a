// __Name__: HTTP only — schemas in, a service call, the envelope out. ETag and If-Match live here.
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
import { Ref } from '../../src/lib/schemas.js'
import { resourcePath } from '../../src/lib/urls.js'
import { __Item__NotFoundError, Stale__Item__Error } from './errors.js'
import type { __Item__Service } from './service.js'
import { __camel__List, __Item__Page, __Item__Params, __Item__Response, Create__Item__Body, Update__Item__Body } from './schemas.js'

const tags = ['__name__']
const security = authSecurity

export function __camel__Routes(fastify: FastifyInstance, service: __Item__Service) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get(
    '',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'list__Name__',
        tags,
        summary: 'List __name__',
        description: 'Your own; moderators and admins see everybody\'s (filter `ownerId`). Filter `q` (name contains); sort by `createdAt` or `name`; offset pages with `meta.total`.',
        security,
        querystring: __camel__List.query,
        response: { 200: Ref(__Item__Page), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const { list, filters } = __camel__List.parse(request.query)
      const { items, meta } = await service.list(request.user!, filters, list)
      return page(items, meta)
    },
  )

  app.get(
    '/:id',
    {
      preHandler: app.requirePermission('read'),
      schema: {
        operationId: 'get__Item__',
        tags,
        summary: 'Get one of __name__',
        description:
          'Its owner, moderators and admins; anybody else gets 404. The ETag is its version: send it back in If-None-Match for a 304 while it is current, or in If-Match to change it.',
        security,
        params: __Item__Params,
        headers: IfNoneMatchHeaders,
        response: {
          200: { ...Ref(__Item__Response), headers: EtagHeader },
          304: NotModifiedResponse,
          ...errorResponses(401, 403, __Item__NotFoundError),
        },
      },
    },
    async (request, reply) => sendVersioned(request, reply, await service.get(request.user!, request.params.id)),
  )

  app.post(
    '',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'create__Item__',
        tags,
        summary: 'Create one of __name__',
        description: 'You become its owner. Answers 201 with it, its Location and its ETag.',
        security,
        body: Ref(Create__Item__Body),
        response: {
          201: { ...Ref(__Item__Response), headers: { location: Type.String({ description: 'The new item' }), ...EtagHeader } },
          ...errorResponses(401, 403),
        },
      },
    },
    async (request, reply) => {
      const item = await service.create(request.user!, request.body)
      reply.header('etag', etagOf(item.version)).header('location', resourcePath(app.prefix, item.id))
      return reply.code(201).send(ok(item))
    },
  )

  app.patch(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'update__Item__',
        tags,
        summary: 'Change one of __name__',
        description: 'Its owner, moderators and admins. Only the fields sent are written. With If-Match, only the version you read is changed (412 when it moved on).',
        security,
        params: __Item__Params,
        headers: IfMatchHeaders,
        body: Ref(Update__Item__Body),
        response: { 200: { ...Ref(__Item__Response), headers: EtagHeader }, ...errorResponses(401, 403, __Item__NotFoundError, Stale__Item__Error) },
      },
    },
    async (request, reply) => {
      const item = await service.update(request.user!, request.params.id, request.body, parseIfMatch(request.headers['if-match']))
      reply.header('etag', etagOf(item.version))
      return ok(item)
    },
  )

  app.delete(
    '/:id',
    {
      preHandler: app.requirePermission('write'),
      schema: {
        operationId: 'delete__Item__',
        tags,
        summary: 'Delete one of __name__',
        description: 'Its owner, moderators and admins.',
        security,
        params: __Item__Params,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(401, 403, __Item__NotFoundError) },
      },
    },
    async (request, reply) => {
      await service.remove(request.user!, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
