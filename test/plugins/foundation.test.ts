import t from 'tap'
import { build } from '../helpers/build.js'

t.test('liveness and readiness answer with every check ok', async (t) => {
  const app = await build(t)
  const live = await app.inject({ method: 'GET', url: '/health' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'healthy' })
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'healthy', checks: { database: 'ok', cache: 'ok', queue: 'ok' } })
})

t.test('an unknown route gets the error envelope with the request id', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/api/v1/nope', headers: { 'x-request-id': 'abc-123' } })
  t.equal(res.statusCode, 404)
  t.equal(res.headers['x-request-id'], 'abc-123')
  t.same(res.json(), { success: false, error: 'Route GET /api/v1/nope not found', code: 'NOT_FOUND', details: [], requestId: 'abc-123' })
})

t.test('an insane incoming request id is replaced by a generated one', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id with spaces<script>' } })
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})
