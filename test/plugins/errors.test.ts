import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { ConflictError, withDetails } from '../../src/lib/errors.js'
import { connect } from 'node:net'
import postgres from 'postgres'
import { sql } from 'drizzle-orm'
import { adminUrl, buildChecked, createTestDatabase, testConfig } from '../helpers/build.js'

// One app with test routes for the whole file (each test asks it something different).
let shared: FastifyInstance | undefined
async function appWithRoutes(): Promise<FastifyInstance> {
  if (shared) return shared
  const app = await buildChecked({ config: testConfig(await createTestDatabase(t), { BODY_LIMIT_BYTES: 2048 }), logger: false })
  t.teardown(() => app.close())
  shared = app
  app.post(
    '/t/widgets',
    {
      schema: {
        body: Type.Object(
          { name: Type.String({ minLength: 2 }), priceCents: Type.Integer({ minimum: 0 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => ({ success: true, data: request.body }),
  )
  app.get('/t/boom', async () => {
    throw new Error('secret detail: password=hunter2 at /srv/app.ts:42')
  })
  app.get('/t/conflict', async () => {
    throw withDetails(new ConflictError('Name already used'), [{ field: 'name', message: 'taken' }])
  })
  // Values the database refuses for their type: class 22, data exceptions.
  app.get('/t/bad-uuid', async () => app.sql`select ${'not-a-uuid'}::uuid`)
  app.get('/t/out-of-range', async () => app.sql`select ${'99999999999'}::int4`)
  app.get('/t/nul', async () => app.sql`select ${'a\u0000b'}::text`)
  app.get('/t/drizzle-bad-uuid', async () => app.db.execute(sql`select ${'not-a-uuid'}::uuid`))
  app.get('/t/unique', async () => {
    await app.sql`create temporary table u (v int unique)`
    await app.sql`insert into u values (1), (1)`
    return 'unreachable'
  })
  await app.ready()
  return app
}

t.test('validation errors list one detail per field', async (t) => {
  const app = await appWithRoutes()
  const res = await app.inject({ method: 'POST', url: '/t/widgets', payload: { name: 'x', priceCents: -1, extra: true } })
  t.equal(res.statusCode, 400)
  const body = res.json()
  t.equal(body.success, false)
  t.equal(body.code, 'VALIDATION_ERROR')
  t.equal(body.requestId, res.headers['x-request-id'])
  const fields = body.details.map((d: { field: string }) => d.field).sort()
  t.same(fields, ['extra', 'name', 'priceCents'])
  t.match(body.error, /name/)
})

t.test('a missing required field is named', async (t) => {
  const app = await appWithRoutes()
  const res = await app.inject({ method: 'POST', url: '/t/widgets', payload: { priceCents: 5 } })
  t.equal(res.statusCode, 400)
  t.same(res.json().details, [{ field: 'name', message: 'is required', in: 'body' }])
})

t.test('malformed JSON, wrong media type and oversized bodies get the envelope', async (t) => {
  const app = await appWithRoutes()
  const bad = await app.inject({ method: 'POST', url: '/t/widgets', headers: { 'content-type': 'application/json' }, payload: '{"name": ' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'BAD_REQUEST')

  const media = await app.inject({
    method: 'POST',
    url: '/t/widgets',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'name=ab',
  })
  t.equal(media.statusCode, 415)
  t.equal(media.json().code, 'UNSUPPORTED_MEDIA_TYPE')

  const big = await app.inject({ method: 'POST', url: '/t/widgets', payload: { name: 'x'.repeat(5000), priceCents: 1 } })
  t.equal(big.statusCode, 413)
  t.equal(big.json().code, 'PAYLOAD_TOO_LARGE')
})

t.test('a 500 does not leak the message, stack or SQL', async (t) => {
  const app = await appWithRoutes()
  const res = await app.inject({ method: 'GET', url: '/t/boom' })
  t.equal(res.statusCode, 500)
  t.same(Object.keys(res.json()).sort(), ['code', 'details', 'error', 'requestId', 'success'])
  t.equal(res.json().code, 'INTERNAL_ERROR')
  t.equal(res.json().error, 'Internal server error')
  t.notMatch(res.body, /hunter2|app\.ts|secret/)
})

t.test('typed errors keep their code and details; unique violations are 409', async (t) => {
  const app = await appWithRoutes()
  const conflict = await app.inject({ method: 'GET', url: '/t/conflict' })
  t.equal(conflict.statusCode, 409)
  t.match(conflict.json(), { code: 'CONFLICT', error: 'Name already used', details: [{ field: 'name', message: 'taken' }] })

  const unique = await app.inject({ method: 'GET', url: '/t/unique' })
  t.equal(unique.statusCode, 409)
  t.equal(unique.json().code, 'CONFLICT')
  t.notMatch(unique.body, /insert|duplicate key/i)
})

t.test('readiness is 503 when the database is gone, and liveness stays up', async (t) => {
  const url = await createTestDatabase(t)
  const app = await buildChecked({ config: testConfig(url, { HEALTH_CHECK_TIMEOUT_MS: 500 }), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  // Kill every connection of this database and forbid new ones: a real outage for this app.
  const name = new URL(url).pathname.slice(1)
  const admin = postgres(adminUrl(), { max: 1 })
  t.teardown(() => admin.end())
  await admin.unsafe(`alter database "${name}" with allow_connections false`)
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name}`
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().status, 'unhealthy')
  t.equal(ready.json().checks.database, 'down')
  const live = await app.inject({ method: 'GET', url: '/health' })
  t.equal(live.statusCode, 200)

  // ...and it recovers by itself once the database is back.
  await admin.unsafe(`alter database "${name}" with allow_connections true`)
  const again = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(again.statusCode, 200)
})

t.test('metrics expose request durations, cache, rate-limit failures, jobs and database connections', async (t) => {
  const app = await appWithRoutes()
  await app.inject({ method: 'GET', url: '/health' })
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  t.match(res.body, /keel_http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} 1/)
  t.match(res.body, /keel_db_connections\{state="max"\} 5/)
  t.match(res.body, /keel_cache_operations_total\{result="hit"\} \d+/)
  t.match(res.body, /keel_rate_limit_store_failures_total\{outcome="open"\} 0/)
  t.match(res.body, /keel_jobs\{queue="[a-z.-]+",state="completed"\} \d+/)
  t.match(res.body, /keel_database_up 1/)
  t.match(res.body, /keel_database_refused_total 0/)
  t.match(res.body, /keel_requests_shed_total 0/)
})

t.test('values the database refuses for their type are 400 VALIDATION_ERROR, without SQL text', async (t) => {
  const app = await appWithRoutes()
  for (const url of ['/t/bad-uuid', '/t/out-of-range', '/t/nul', '/t/drizzle-bad-uuid']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 400, url)
    t.match(res.json(), { success: false, code: 'VALIDATION_ERROR', requestId: res.headers['x-request-id'] })
    t.notMatch(res.body, /select|uuid|int4|not-a-uuid/i, 'no SQL text or value out')
  }
})

t.test('malformed URLs and overlong path segments get the envelope', async (t) => {
  const app = await appWithRoutes()
  const bad = await app.inject({ method: 'GET', url: '/api/v1/products/%E0%A4%A', headers: { 'x-request-id': 'bad-url-1' } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.headers['x-request-id'], 'bad-url-1')
  t.same(bad.json(), {
    success: false,
    error: 'The URL is malformed (invalid percent-encoding)',
    code: 'BAD_REQUEST',
    details: [],
    requestId: 'bad-url-1',
  })

  const long = await app.inject(`/api/v1/products/${'a'.repeat(5000)}`)
  t.equal(long.statusCode, 414)
  t.match(long.json(), { success: false, code: 'URI_TOO_LONG', details: [], requestId: long.headers['x-request-id'] })

  const unknown = await app.inject('/api/v1/nothing-here')
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json(), { success: false, code: 'NOT_FOUND', requestId: unknown.headers['x-request-id'] })
})

t.test("a request Node's HTTP parser refuses (headers too large) gets the envelope", async (t) => {
  const app = await appWithRoutes()
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    socket.on('data', (d: Buffer) => (received += d.toString()))
    socket.on('close', () => resolve(received))
    socket.on('error', reject)
    socket.write(`GET /api/v1/products?q=${'x'.repeat(20_000)} HTTP/1.1\r\nhost: keel\r\n\r\n`)
  })
  t.match(answer, /^HTTP\/1\.1 431 /)
  const requestId = /x-request-id: (\S+)/i.exec(answer)?.[1]
  t.ok(requestId, 'with an x-request-id')
  t.same(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), {
    success: false,
    error: 'The request line and headers are too large',
    code: 'HEADERS_TOO_LARGE',
    details: [],
    requestId,
  })
})
