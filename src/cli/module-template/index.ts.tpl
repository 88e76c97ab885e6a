// The __name__ module: mounted at /api/v1/__name__ by folder discovery; builds its repository,
// service and routes. Encapsulated: it decorates nothing on the root instance.
import type { FastifyPluginAsync } from 'fastify'
import { create__Item__Repository } from './repository.js'
import { create__Item__Service } from './service.js'
import { __camel__Routes } from './routes.js'

const __camel__Module: FastifyPluginAsync = async (fastify) => {
  const service = create__Item__Service(create__Item__Repository(fastify.db))
  __camel__Routes(fastify, service)
}

export default __camel__Module
