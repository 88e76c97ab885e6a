// Security headers (helmet) and CORS with an allow-list from CORS_ORIGINS ("*" for any).
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import { list } from '../src/config.js'

export const exposedHeaders = [
  'x-request-id',
  'etag',
  'location',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]

export default fp(
  async (fastify) => {
    // Swagger UI serves its own static CSP (see plugins/swagger.ts); helmet's default covers the API.
    await fastify.register(helmet, { global: true })
    const origins = list(fastify.config.CORS_ORIGINS)
    await fastify.register(cors, {
      origin: origins.includes('*') ? true : origins.length > 0 ? origins : false,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['authorization', 'content-type', 'x-api-key', 'x-request-id', 'if-match', 'if-none-match', 'idempotency-key'],
      exposedHeaders,
      maxAge: 600,
    })
  },
  { fastify: '5.x', name: 'security', dependencies: ['config'] },
)
