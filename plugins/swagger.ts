// OpenAPI from the route schemas (@fastify/swagger) and Swagger UI at /docs, with both auth schemes.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { sharedSchemas } from '../src/lib/envelope.js'

export const openapiInfo = {
  title: 'Keel API',
  version: '1.0.0',
  description:
    'Keel: a Fastify modular monolith. Every response uses the envelope `{success, data, meta}` or ' +
    '`{success:false, error, code, details, requestId}`. Authenticate with "Authorize": a bearer access token ' +
    'from `POST /api/v1/auth/login`, or an API key in `X-API-Key`.',
}

export default fp(
  async (fastify) => {
    for (const schema of sharedSchemas) fastify.addSchema(schema)
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: openapiInfo,
        servers: fastify.config.PUBLIC_URL ? [{ url: fastify.config.PUBLIC_URL }] : [],
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from POST /api/v1/auth/login' },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'API key from POST /api/v1/api-keys' },
          },
        },
      },
      // Shared schemas keep their $id as the component name (ErrorResponse, PageMeta, ...).
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    })
    await fastify.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: false },
    })
  },
  { fastify: '5.x', name: 'swagger', dependencies: ['config'] },
)
