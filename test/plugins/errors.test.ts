import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { ConflictError, withDetails } from '../../src/lib/errors.js'
import postgres from 'postgres'
import { adminUrl, createTestDatabase, testConfig, buildChecked } from '../helpers/build.js'

async function appWithRoutes(t: Parameters<typeof createTestDatabase>[0]): Promise<FastifyInstance> {
  const app = await buildChecked({ config: testConfig(await createTestDatabase(t), { BODY_LIMIT_BYTES: 2048 }), logger: false })
  t.teardown(() => app.close())
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
  app.get('/t/unique', async () => {
    await app.sql`create temporary table u (v int unique)`
    await app.sql`insert into u values (1), (1)`
    return 'unreachable'
  })
  await app.ready()
  return app
}

t.test('validation errors list one detail per field', async (t) => {
  const app = await appWithRoutes(t)
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
  const app = await appWithRoutes(t)
  const res = await app.inject({ method: 'POST', url: '/t/widgets', payload: { priceCents: 5 } })
  t.equal(res.statusCode, 400)
  t.same(res.json().details, [{ field: 'name', message: 'is required', in: 'body' }])
})

t.test('malformed JSON, wrong media type and oversized bodies get the envelope', async (t) => {
  const app = await appWithRoutes(t)
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
  const app = await appWithRoutes(t)
  const res = await app.inject({ method: 'GET', url: '/t/boom' })
  t.equal(res.statusCode, 500)
  t.same(Object.keys(res.json()).sort(), ['code', 'details', 'error', 'requestId', 'success'])
  t.equal(res.json().code, 'INTERNAL_ERROR')
  t.equal(res.json().error, 'Internal server error')
  t.notMatch(res.body, /hunter2|app\.ts|secret/)
})

t.test('typed errors keep their code and details; unique violations are 409', async (t) => {
  const app = await appWithRoutes(t)
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
  const app = await appWithRoutes(t)
  await app.inject({ method: 'GET', url: '/health' })
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  t.match(res.body, /keel_http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} 1/)
  t.match(res.body, /keel_db_connections\{state="max"\} 5/)
  t.match(res.body, /keel_cache_operations_total\{result="hit"\} \d+/)
  t.match(res.body, /keel_rate_limit_store_failures_total\{outcome="open"\} 0/)
  t.match(res.body, /keel_jobs\{queue="[a-z.-]+",state="completed"\} \d+/)
})
