// A deprecated route announces it on every answer (Deprecation, RFC 9745; Sunset, RFC 8594; Link)
// and in the spec (deprecated: true, the dates in its description, the headers documented).
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { errorResponses } from '../../src/lib/envelope.js'
import { buildOffline } from '../helpers/build.js'

const deprecated = { since: '2026-06-30', sunset: '2027-06-30', link: 'https://docs.example.org/migrate/v2-widgets' }

t.test('a deprecated route sends Deprecation, Sunset and Link, and the spec marks it', async (t) => {
  const app = await buildOffline(t)
  app.get(
    '/api/v1/legacy-widgets',
    {
      config: { deprecated },
      schema: {
        operationId: 'listLegacyWidgets',
        tags: ['health'],
        summary: 'Legacy widgets',
        description: 'The old list.',
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1 })) }),
        response: { 200: Type.Object({ success: Type.Literal(true) }), ...errorResponses() },
      },
    },
    async () => ({ success: true as const }),
  )
  app.get('/api/v1/current-widgets', async () => ({ success: true }))
  await app.ready()

  const res = await app.inject({ url: '/api/v1/legacy-widgets' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers.deprecation, `@${Date.UTC(2026, 5, 30) / 1000}`, 'a structured-field date')
  t.equal(res.headers.sunset, 'Wed, 30 Jun 2027 00:00:00 GMT', 'an HTTP-date')
  t.equal(res.headers.link, `<${deprecated.link}>; rel="deprecation"; type="text/html"`)

  const refused = await app.inject({ url: '/api/v1/legacy-widgets?limit=0' })
  t.equal(refused.statusCode, 400)
  t.equal(refused.headers.sunset, 'Wed, 30 Jun 2027 00:00:00 GMT', 'errors carry the headers too')

  const current = await app.inject({ url: '/api/v1/current-widgets' })
  t.equal(current.headers.deprecation, undefined, 'other routes do not')

  const spec = app.swagger() as unknown as {
    paths: Record<
      string,
      { get: { deprecated?: boolean; description: string; responses: Record<string, { headers?: Record<string, unknown> }> } }
    >
  }
  const op = spec.paths['/api/v1/legacy-widgets']!.get
  t.equal(op.deprecated, true)
  t.match(op.description, /^\*\*Deprecated\*\* since 2026-06-30; may stop answering after 2027-06-30 .*The old list\.$/)
  for (const [status, response] of Object.entries(op.responses)) {
    t.same(Object.keys(response.headers ?? {}).sort(), ['deprecation', 'link', 'sunset'], `${status} documents the headers`)
  }
})

t.test('a deprecation with a malformed date stops the app at start', async (t) => {
  const app = await buildOffline(t)
  t.throws(
    () => app.get('/api/v1/broken', { config: { deprecated: { since: '30/06/2026', sunset: '2027-06-30' } } }, async () => ({})),
    /deprecated\.since must be a YYYY-MM-DD date/,
  )
})
