// OpenAPI from the route schemas (@fastify/swagger) and Swagger UI at /docs, with both auth schemes.
// Beyond what the routes say, it documents what the server itself adds: 413 and 415 on every route
// that takes a body, problem details beside every error envelope, and a described tag per module
// (the first paragraph of modules/<tag>/README.md, so a new module needs no edit here).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { RouteOptions } from 'fastify'
import {
  errorResponses,
  problemMedia,
  ProblemDetailsSchema,
  PROBLEM_JSON,
  sharedSchemas,
  type ErrorResponse,
  type StandardStatus,
} from '../src/lib/envelope.js'
import { projectRoot } from '../src/lib/paths.js'
import { docsEnabled } from '../src/lib/config.js'

export const openapiInfo = {
  title: 'Keel API',
  version: '1.0.0',
  description:
    'Keel: a Fastify modular monolith. Every response uses the envelope `{success, data, meta}` or ' +
    '`{success:false, error, code, details, requestId}`; a client that sends `Accept: application/problem+json` ' +
    'receives errors as RFC 9457 problem details instead (same `code` and `requestId`). Authenticate with "Authorize": ' +
    'a bearer access token from `POST /api/v1/auth/login`, or an API key in `X-API-Key`.',
  license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
  contact: { name: 'Keel maintainers', email: 'api@keel.example' },
}

/** Tags of routes that no module owns (a module's tag is described by its README). */
const infrastructureTags: Record<string, string> = {
  health: 'Liveness, readiness and Prometheus metrics, for load balancers, orchestrators and scrapers: public and never rate limited.',
}

/** The first paragraph of a module's README (after its title): what the module is for. */
export function moduleIntro(module: string, root = projectRoot): string | undefined {
  const file = join(root, 'modules', module, 'README.md')
  if (!existsSync(file)) return undefined
  const paragraph: string[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const text = line.trim()
    if (text.startsWith('#') && paragraph.length === 0) continue
    if (text === '' || /^(\||```|#)/.test(text)) {
      if (paragraph.length > 0) break
      continue
    }
    paragraph.push(text)
  }
  return paragraph.length > 0 ? paragraph.join(' ') : undefined
}

type RouteSchema = { body?: unknown; hide?: boolean; tags?: string[]; response?: Record<string, unknown> }

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])
const ERROR_RESPONSE = '#/components/schemas/ErrorResponse'
const exampleId = '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01'

type Media = { schema?: { $ref?: string }; examples?: Record<string, { summary?: string; value: unknown }> }
type Paths = Record<string, Record<string, { responses?: Record<string, { content?: Record<string, Media> }> }>>

/** Beside every error envelope, the problem details a client gets with Accept: application/problem+json. */
function addProblemDetails(paths: Paths) {
  for (const [path, item] of Object.entries(paths)) {
    const instance = path.replace(/\{[^}]+\}/g, exampleId)
    for (const operation of Object.values(item)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const json = response.content?.['application/json']
        if (json?.schema?.$ref !== ERROR_RESPONSE || response.content![PROBLEM_JSON]) continue
        response.content![PROBLEM_JSON] = problemMedia(Number(status), json.examples as Record<string, { value: ErrorResponse }>, instance)
      }
    }
  }
}

/**
 * What the server answers before the handler runs: 408 (too slow), 413 (too large) and 415 (not
 * JSON) on any route that reads a body, 414 (a path segment too long) on any route with a path parameter.
 */
function documentServerErrors(route: RouteOptions) {
  const schema = route.schema as RouteSchema | undefined
  if (!schema?.response) return
  const methods = [route.method].flat().map((m) => m.toUpperCase())
  const statuses: StandardStatus[] = [
    ...(schema.body !== undefined || methods.some((m) => BODY_METHODS.has(m)) ? ([408, 413, 415] as const) : []),
    ...(route.url.includes(':') ? ([414] as const) : []),
  ]
  if (statuses.length === 0) return
  const errors = errorResponses(...statuses)
  const response = { ...schema.response }
  for (const status of statuses) response[status] ??= errors[status]!
  route.schema = { ...schema, response } as RouteOptions['schema']
}

export default fp(
  async (fastify) => {
    for (const schema of sharedSchemas) fastify.addSchema(schema)

    const tagsInUse = new Set<string>()
    fastify.addHook('onRoute', (route) => {
      documentServerErrors(route)
      const schema = route.schema as RouteSchema | undefined
      if (!schema?.hide) for (const tag of schema?.tags ?? []) tagsInUse.add(tag)
    })

    await fastify.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: openapiInfo,
        servers: fastify.config.PUBLIC_URL
          ? [{ url: fastify.config.PUBLIC_URL, description: 'This deployment' }]
          : [{ url: '/', description: 'The server that serves this document' }],
        components: {
          schemas: { ProblemDetails: ProblemDetailsSchema },
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from POST /api/v1/auth/login' },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'API key from POST /api/v1/api-keys' },
          },
        },
      },
      // Shared schemas keep their $id as the component name (ErrorResponse, PageMeta, ...).
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
      // Every tag a route uses, declared with its description (Swagger UI groups and orders by them),
      // and the problem details media type on every error response.
      transformObject: (document) => {
        const spec = 'openapiObject' in document ? document.openapiObject : document.swaggerObject
        addProblemDetails((spec.paths ?? {}) as Paths)
        return {
          ...spec,
          tags: [...tagsInUse].sort().map((name) => {
            const description = infrastructureTags[name] ?? moduleIntro(name)
            return description ? { name, description } : { name }
          }),
        }
      },
    })
    // Off in production unless DOCS_ENABLED=true: the spec is still built (`npm run openapi`), not served.
    if (!docsEnabled(fastify.config)) return
    await fastify.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: false },
    })
  },
  { fastify: '5.x', name: 'swagger', dependencies: ['config'] },
)
