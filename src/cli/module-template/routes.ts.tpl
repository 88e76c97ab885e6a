// __Name__ routes: HTTP only — schemas in, service call, envelope out.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { authSecurity as security } from '../../plugins/auth.js'
import { errorResponses, ok, page, Page, Success } from '../../src/lib/envelope.js'
import { pageMeta, parseList } from '../../src/lib/pagination.js'
import { Create__Item__Schema, IdParams, __Item__ListQuery, __Item__Schema, listSpec, Update__Item__Schema } from './schemas.js'
import type { __Item__Service } from './service.js'

const tags = ['__name__']

export function __camel__Routes(fastify: FastifyInstance, service: __Item__Service) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get('/', {
    preHandler: app.requirePermission('read'),
    schema: { tags, security, summary: 'List __name__', querystring: __Item__ListQuery, response: { 200: Page(__Item__Schema), ...errorResponses(401, 403) } },
  }, async (request) => {
    const { ownerId, q, ...rest } = request.query
    const list = parseList(rest, listSpec)
    const { items, total } = await service.list(list, { ownerId, q })
    return page(items, pageMeta(list, total))
  })

  app.get('/:id', {
    preHandler: app.requirePermission('read'),
    schema: { tags, security, summary: 'Get one of __name__', params: IdParams, response: { 200: Success(__Item__Schema), ...errorResponses(401, 403, 404) } },
  }, async (request) => ok(await service.get(request.params.id)))

  app.post('/', {
    preHandler: app.requirePermission('write'),
    schema: { tags, security, summary: 'Create one of __name__', body: Create__Item__Schema, response: { 201: Success(__Item__Schema), ...errorResponses(401, 403) } },
  }, async (request, reply) => {
    const created = await service.create(request.user!, request.body)
    return reply.code(201).header('location', `${request.url.split('?')[0]!.replace(/\/$/, '')}/${created.id}`).send(ok(created))
  })

  app.patch('/:id', {
    preHandler: app.requirePermission('write'),
    schema: { tags, security, summary: 'Change one of __name__ (owner, moderator or admin)', params: IdParams, body: Update__Item__Schema, response: { 200: Success(__Item__Schema), ...errorResponses(401, 403, 404) } },
  }, async (request) => ok(await service.update(request.user!, request.params.id, request.body)))

  app.delete('/:id', {
    preHandler: app.requirePermission('write'),
    schema: { tags, security, summary: 'Delete one of __name__ (owner, moderator or admin)', params: IdParams, response: { 204: { type: 'null', description: 'Deleted' }, ...errorResponses(401, 403, 404) } },
  }, async (request, reply) => {
    await service.remove(request.user!, request.params.id)
    return reply.code(204).send()
  })
}
