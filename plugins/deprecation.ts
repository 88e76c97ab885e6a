// Deprecated routes: `config: { deprecated: { since, sunset, link } }` on a route makes every answer
// carry `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link` to the migration notes, and marks
// the operation deprecated in OpenAPI, with the dates in its description.
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { onSendHookHandler, RouteOptions } from 'fastify'

export interface DeprecatedRoute {
  /** The day the route was (or will be) deprecated, `YYYY-MM-DD` (UTC). */
  since: string
  /** The day after which it may stop answering, `YYYY-MM-DD` (UTC). */
  sunset: string
  /** Where a client reads what to use instead. */
  link?: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    deprecated?: DeprecatedRoute
  }
}

const DAY = /^\d{4}-\d{2}-\d{2}$/

function dayOf(value: string, name: string, url: string): Date {
  const date = new Date(`${value}T00:00:00Z`)
  if (!DAY.test(value) || Number.isNaN(date.getTime()))
    throw new Error(`route ${url}: deprecated.${name} must be a YYYY-MM-DD date, not '${value}'`)
  return date
}

/** The three headers, computed once per route. */
export function deprecationHeaders(route: DeprecatedRoute, url = 'route'): Record<string, string> {
  const since = dayOf(route.since, 'since', url)
  const sunset = dayOf(route.sunset, 'sunset', url)
  if (sunset < since) throw new Error(`route ${url}: deprecated.sunset comes before deprecated.since`)
  return {
    // RFC 9745: a structured-field Date, seconds since the epoch.
    deprecation: `@${since.getTime() / 1000}`,
    // RFC 8594: an HTTP-date.
    sunset: sunset.toUTCString(),
    ...(route.link ? { link: `<${route.link}>; rel="deprecation"; type="text/html"` } : {}),
  }
}

const documentedHeaders = {
  deprecation: Type.String({
    description: 'RFC 9745: when this operation was deprecated (`@` + seconds since the epoch)',
    examples: ['@1782777600'],
  }),
  sunset: Type.String({
    description: 'RFC 8594: after this date the operation may stop answering',
    examples: ['Wed, 30 Jun 2027 00:00:00 GMT'],
  }),
  link: Type.String({ description: 'rel="deprecation": what to use instead' }),
}

type RouteSchema = { description?: string; deprecated?: boolean; response?: Record<string, { headers?: Record<string, unknown> }> }

function document(route: RouteOptions, deprecated: DeprecatedRoute) {
  const schema = (route.schema ?? {}) as RouteSchema
  const note = `**Deprecated** since ${deprecated.since}; may stop answering after ${deprecated.sunset}${deprecated.link ? ` (see ${deprecated.link})` : ''}.`
  const headers = deprecated.link ? documentedHeaders : { deprecation: documentedHeaders.deprecation, sunset: documentedHeaders.sunset }
  const response = Object.fromEntries(
    Object.entries(schema.response ?? {}).map(([status, res]) => [status, { ...res, headers: { ...res.headers, ...headers } }]),
  )
  route.schema = {
    ...schema,
    deprecated: true,
    description: schema.description ? `${note} ${schema.description}` : note,
    ...(schema.response ? { response } : {}),
  } as RouteOptions['schema']
}

export default fp(
  async (fastify) => {
    fastify.addHook('onRoute', (route) => {
      const deprecated = route.config?.deprecated
      if (!deprecated) return
      const headers = deprecationHeaders(deprecated, route.url)
      document(route, deprecated)
      // onSend: errors answered for this route (400, 401, 429...) carry the headers too.
      const onSend: onSendHookHandler = (_request, reply, payload, done) => {
        reply.headers(headers)
        done(null, payload)
      }
      route.onSend = [onSend, ...[route.onSend ?? []].flat()]
    })
  },
  { fastify: '5.x', name: 'deprecation' },
)
