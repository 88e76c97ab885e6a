// Issue 9, item 2: a key never yields anything broader, longer-lived or less limited than itself.
// Key management needs a bearer session; a key's own limit is capped by the server default (admins
// excepted); keys per user are capped.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { createUser, DEFAULT_PASSWORD, login, type TestUser } from '../../helpers/auth.js'
import { apiKeyServiceDeps } from '../../../modules/api-keys/index.js'
import { createApiKeyService, type Issuer } from '../../../modules/api-keys/service.js'

const base = '/api/v1/api-keys'
const createKey = (app: FastifyInstance, headers: Record<string, string>, payload: Record<string, unknown> = {}) =>
  app.inject({ method: 'POST', url: base, headers, payload: { currentPassword: DEFAULT_PASSWORD, ...payload } })
const me = (app: FastifyInstance, key: string) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': key } })
const noAudit = () => {}

// One app for the file (every test has its own users): a default budget of 100 per minute, 3 keys per user.
// Creating a key checks the current password against the failed-login budgets; six checks in flight at
// once would meet the growing delay (each holds a failure until it succeeds), so none here.
const app = await build(t, {
  RATE_LIMIT_MAX: 100,
  RATE_LIMIT_WINDOW_SECONDS: 60,
  API_KEYS_MAX_PER_USER: 3,
  RATE_LIMIT_LOGIN_DELAY_SECONDS: 0,
})

t.test('key management needs a bearer session: a key can neither create, see, rotate nor revoke keys', async (t) => {
  const alice = await createUser(app, { role: 'moderator' })
  const narrow = (await createKey(app, alice.headers, { name: 'ci', scopes: ['read', 'write'] })).json().data
  const broad = (await createKey(app, alice.headers, { name: 'ops', scopes: ['read', 'write', 'delete'] })).json().data
  const withKey = { 'x-api-key': narrow.key }

  const attempts = {
    create: await createKey(app, withKey, { scopes: ['read'] }),
    list: await app.inject({ method: 'GET', url: base, headers: withKey }),
    get: await app.inject({ method: 'GET', url: `${base}/${broad.id}`, headers: withKey }),
    rotate: await app.inject({ method: 'POST', url: `${base}/${broad.id}/rotate`, headers: withKey }),
    delete: await app.inject({ method: 'DELETE', url: `${base}/${broad.id}`, headers: withKey }),
  }
  for (const [what, res] of Object.entries(attempts)) {
    t.equal(res.statusCode, 403, `${what}: 403`)
    t.match(res.json(), { code: 'FORBIDDEN', error: /bearer session/ }, what)
    t.notOk(res.body.includes('keel_'), `${what}: no key in the answer`)
  }
  t.match((await me(app, broad.key)).json().data, { permissions: ['read', 'write', 'delete'] }, 'the broader key was not rotated away')
  t.equal((await app.inject({ method: 'GET', url: base, headers: alice.headers })).json().meta.total, 2, 'nothing created or revoked')
})

t.test("a key's own rate limit is capped by the server default, except for admins", async (t) => {
  const user = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })

  for (const [rateLimit, why] of [
    [{ max: 101, windowSeconds: 60 }, 'a bigger burst'],
    [{ max: 100, windowSeconds: 30 }, 'a faster rate'],
    [{ max: 10, windowSeconds: 1 }, 'a faster rate with a smaller max'],
  ] as const) {
    const res = await createKey(app, user.headers, { rateLimit })
    t.equal(res.statusCode, 403, why)
    t.match(res.json(), { code: 'RATE_LIMIT_TOO_HIGH', error: /at most 100 requests per 60 s/ }, why)
  }
  for (const rateLimit of [
    { max: 100, windowSeconds: 60 },
    { max: 50, windowSeconds: 3600 },
  ]) {
    const res = await createKey(app, user.headers, { rateLimit })
    t.equal(res.statusCode, 201, `${rateLimit.max} per ${rateLimit.windowSeconds} s is within the default`)
    t.same(res.json().data.rateLimit, rateLimit)
  }
  const generous = await createKey(app, admin.headers, { rateLimit: { max: 5000, windowSeconds: 60 } })
  t.equal(generous.statusCode, 201, 'an admin may give a key more than the default')
  t.equal((await me(app, generous.json().data.key)).headers['x-ratelimit-limit'], '5000')
})

t.test("a demoted admin's keys fall back to the default limit, and rotating re-issues them within the new role", async (t) => {
  const root = await createUser(app, { role: 'admin' })
  const former = await createUser(app, { role: 'admin' })
  const key = (await createKey(app, former.headers, { rateLimit: { max: 5000, windowSeconds: 60 } })).json().data
  t.same(key.scopes, ['read', 'write', 'delete', 'admin'])
  t.equal((await me(app, key.key)).headers['x-ratelimit-limit'], '5000')

  const demoted = await app.inject({ method: 'PATCH', url: `/api/v1/users/${former.id}`, headers: root.headers, payload: { role: 'user' } })
  t.equal(demoted.statusCode, 200)
  const res = await me(app, key.key)
  t.equal(res.headers['x-ratelimit-limit'], '100', 'the server default applies from the next request')
  t.match(res.json().data, { permissions: ['read', 'write'] })

  const session = { authorization: `Bearer ${(await login(app, former.email, former.password)).accessToken}` }
  const rotated = await app.inject({ method: 'POST', url: `${base}/${key.id}/rotate`, headers: session })
  t.equal(rotated.statusCode, 200)
  t.match(rotated.json().data, { scopes: ['read', 'write'], rateLimit: { max: 100, windowSeconds: 60 } })
})

t.test('keys per user are capped (API_KEYS_MAX_PER_USER), even when created all at once', async (t) => {
  const alice = await createUser(app)
  const first = (await createKey(app, alice.headers)).json().data
  t.equal((await createKey(app, alice.headers)).statusCode, 201)
  t.equal((await createKey(app, alice.headers)).statusCode, 201)
  const fourth = await createKey(app, alice.headers)
  t.equal(fourth.statusCode, 409)
  t.match(fourth.json(), { code: 'API_KEY_LIMIT_REACHED', error: /3 API keys/ })

  t.equal((await app.inject({ method: 'DELETE', url: `${base}/${first.id}`, headers: alice.headers })).statusCode, 204)
  t.equal((await createKey(app, alice.headers)).statusCode, 201, 'room again once one is deleted')

  const bob: TestUser = await createUser(app)
  const statuses = (await Promise.all(Array.from({ length: 6 }, () => createKey(app, bob.headers)))).map((r) => r.statusCode)
  t.same(statuses.sort(), [201, 201, 201, 409, 409, 409], 'six at once: three created')
})

t.test('were keys ever allowed to issue keys, none could yield more than itself', async (t) => {
  // The routes refuse keys (above); this drives the service's rule directly, as a key would reach it.
  const service = createApiKeyService(apiKeyServiceDeps(app))
  const alice = await createUser(app)
  const sibling = (await createKey(app, alice.headers, { name: 'full' })).json().data
  const end = new Date(Date.now() + 3600_000)
  const issuer: Issuer = {
    principal: { id: alice.id, role: 'user', permissions: ['read'], apiKeyId: sibling.id },
    key: { id: sibling.id, ownerId: alice.id, scopes: ['read'], rateLimit: { max: 10, windowSeconds: 60 }, expiresAt: end },
  }

  const child = await service.create(issuer, {}, noAudit)
  t.match(
    child,
    { scopes: ['read'], expiresAt: end.toISOString(), rateLimit: { max: 10, windowSeconds: 60 } },
    'defaults to its own bounds',
  )

  const refusals: [Record<string, unknown>, RegExp][] = [
    [{ scopes: ['read', 'write'] }, /scope/],
    [{ expiresAt: new Date(end.getTime() + 1000).toISOString() }, /must expire by/],
    [{ rateLimit: { max: 11, windowSeconds: 60 } }, /at most 10 requests per 60 s/],
    [{ rateLimit: { max: 10, windowSeconds: 59 } }, /at most 10 requests per 60 s/],
  ]
  for (const [input, message] of refusals) {
    await t.rejects(service.create(issuer, input, noAudit), { statusCode: 403, message }, JSON.stringify(input))
  }

  const rotated = await service.rotate(issuer, sibling.id, noAudit)
  t.match(
    rotated,
    { scopes: ['read'], expiresAt: end.toISOString(), rateLimit: { max: 10, windowSeconds: 60 } },
    'a rotated sibling comes back no broader, longer-lived or less limited than the rotating key',
  )
})
