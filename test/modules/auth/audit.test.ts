import { Writable } from 'node:stream'
import t from 'tap'
import { loggerOptions } from '../../../plugins/request-context.js'
import { createTestDatabase, testConfig, buildChecked } from '../../helpers/build.js'

t.test('auth events are logged as their own lines, without secrets', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  // The account signs up and makes a key without opening its verification email.
  const config = testConfig(await createTestDatabase(t), { LOG_LEVEL: 'info', REQUIRE_VERIFIED_EMAIL_FOR: 'none' })
  const app = await buildChecked({ config, logger: { ...(loggerOptions(config) as object), stream } })
  t.teardown(() => app.close())
  await app.ready()

  const password = 'Paper-Trail-Pass-1'
  const reg = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'audit@example.com', password } })
  const userId = reg.json().data.id as string
  await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'audit@example.com', password: 'Wrong-Pass-123' } })
  const ok = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: 'audit@example.com', password },
    headers: { 'x-request-id': 'login-1' },
  })
  const { accessToken, refreshToken, sessionId } = ok.json().data
  await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } })
  await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } }) // reuse: the session ends
  const again = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'audit@example.com', password } })
  const headers = { authorization: `Bearer ${again.json().data.accessToken}` }
  const created = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: { currentPassword: password } })
  t.equal(created.statusCode, 201, created.body)
  const key = created.json().data
  const rotated = (await app.inject({ method: 'POST', url: `/api/v1/api-keys/${key.id}/rotate`, headers })).json().data
  await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': rotated.key } })
  await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers })

  const event = (name: string) => lines.filter((l) => l.event === name)
  t.match(event('auth.login.failed'), [{ userId, reason: 'wrong_password' }])
  t.match(event('auth.login.succeeded')[0], { userId, requestId: 'login-1' })
  t.match(event('auth.login.succeeded'), [{ userId, sessionId }, { userId }])
  t.match(event('auth.refresh.reuse_detected'), [{ userId, sessionId }])
  t.match(event('api_key.created'), [{ apiKeyId: key.id, ownerId: userId }])
  t.match(event('api_key.rotated'), [{ apiKeyId: key.id }])
  t.match(event('api_key.revoked'), [{ apiKeyId: key.id }])
  const completed = lines.filter((l) => l.msg === 'request completed' && l.route === '/api/v1/auth/me')
  t.match(completed, [{ userId, apiKeyId: key.id }], 'the request line names the user and key')

  const all = JSON.stringify(lines)
  for (const secret of [password, refreshToken, accessToken, key.key, rotated.key]) t.notOk(all.includes(secret), 'no secret in the logs')
})
