// Sessions you can see and end one by one: GET /auth/sessions lists the caller's live sessions
// (opened, last used, client address, user agent, which is current); DELETE /auth/sessions/{id}
// ends one at once — its refresh tokens and its access tokens, on every instance.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, buildChecked, createTestDatabase, needsRedis, redisUrl, testConfig } from '../../helpers/build.js'
import { bearer, createUser, type TestUser } from '../../helpers/auth.js'

interface Session {
  id: string
  createdAt: string
  lastUsedAt: string
  expiresAt: string
  clientAddress: string | null
  userAgent: string | null
  current: boolean
}

const me = (app: FastifyInstance, accessToken: string) =>
  app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(accessToken) })
const sessionsOf = async (app: FastifyInstance, accessToken: string): Promise<Session[]> => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: bearer(accessToken) })
  if (res.statusCode !== 200) throw new Error(`GET /auth/sessions: ${res.statusCode} ${res.body}`)
  return res.json().data
}
const end = (app: FastifyInstance, accessToken: string, id: string) =>
  app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${id}`, headers: bearer(accessToken) })
const refresh = (app: FastifyInstance, refreshToken: string, headers: Record<string, string> = {}, remoteAddress?: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refreshToken },
    headers,
    ...(remoteAddress ? { remoteAddress } : {}),
  })

/** Log in from a given client: its address and user agent. */
async function loginFrom(app: FastifyInstance, user: TestUser, remoteAddress: string, userAgent: string) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: user.email, password: user.password },
    headers: { 'user-agent': userAgent },
    remoteAddress,
  })
  if (res.statusCode !== 200) throw new Error(`login: ${res.statusCode} ${res.body}`)
  return res.json().data as { accessToken: string; refreshToken: string; sessionId: string }
}

t.test('the list shows your live sessions, where they were used from, and which is yours', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const laptop = await loginFrom(app, user, '198.51.100.7', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0')
  const phone = await loginFrom(app, user, '203.0.113.20', 'KeelApp/2.1 (iPhone)')
  const gone = await loginFrom(app, user, '203.0.113.21', 'curl/8.5.0')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(gone.accessToken) })).statusCode, 204)
  const someoneElse = await createUser(app)

  const listed = await sessionsOf(app, laptop.accessToken)
  t.same(listed.map((s) => s.id).sort(), [user.sessionId, laptop.sessionId, phone.sessionId].sort(), 'live sessions only, all mine')
  t.notOk(
    listed.some((s) => s.id === someoneElse.sessionId),
    "never another user's",
  )
  t.match(
    listed.find((s) => s.id === laptop.sessionId),
    { current: true, clientAddress: '198.51.100.7', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' },
  )
  t.match(
    listed.find((s) => s.id === phone.sessionId),
    { current: false, clientAddress: '203.0.113.20', userAgent: 'KeelApp/2.1 (iPhone)' },
  )
  t.equal(listed.filter((s) => s.current).length, 1)
  t.same(
    listed.slice(0, 2).map((s) => s.id),
    [laptop.sessionId, phone.sessionId],
    'the most recently used first (listing is a use of the laptop session)',
  )

  // A refresh from somewhere else moves the session's last use, address and user agent.
  const before = listed.find((s) => s.id === phone.sessionId)!
  t.equal((await refresh(app, phone.refreshToken, { 'user-agent': 'KeelApp/2.2 (iPhone)' }, '203.0.113.99')).statusCode, 200)
  const after = (await sessionsOf(app, laptop.accessToken)).find((s) => s.id === phone.sessionId)!
  t.match(after, { clientAddress: '203.0.113.99', userAgent: 'KeelApp/2.2 (iPhone)', createdAt: before.createdAt })
  t.ok(after.lastUsedAt >= before.lastUsedAt && after.expiresAt >= before.expiresAt)

  const withKey = await app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: bearer(laptop.accessToken),
    payload: { currentPassword: user.password },
  })
  const key = withKey.json().data.key as string
  const byKey = await app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: { 'x-api-key': key } })
  t.equal(byKey.statusCode, 403, 'an API key cannot list sessions')
  const endByKey = await app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${phone.sessionId}`, headers: { 'x-api-key': key } })
  t.equal(endByKey.statusCode, 403, 'nor end one')
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/auth/sessions' })).statusCode, 401)
})

t.test("a request with an access token moves its session's lastUsedAt, at most once per interval", async (t) => {
  const app = await build(t, { SESSION_LAST_USED_INTERVAL_SECONDS: 60 })
  const user = await createUser(app)
  const phone = await loginFrom(app, user, '203.0.113.20', 'KeelApp/2.1 (iPhone)')
  const lastUsed = async () => (await sessionsOf(app, user.accessToken)).find((s) => s.id === phone.sessionId)!.lastUsedAt
  const opened = await lastUsed()

  const realNow = app.clock.now
  t.teardown(() => (app.clock.now = realNow))
  const start = realNow() + 3_600_000 // an hour later
  const at = (ms: number) => {
    app.clock.now = () => start + ms
    return new Date(start + ms).toISOString()
  }
  const used = at(0)
  t.equal((await me(app, phone.accessToken)).statusCode, 200)
  t.equal(await lastUsed(), used, 'recorded')
  t.not(used, opened)
  at(30_000)
  await me(app, phone.accessToken)
  t.equal(await lastUsed(), used, 'not again within the interval')
  const later = at(61_000)
  await me(app, phone.accessToken)
  t.equal(await lastUsed(), later, 'again after it')
})

t.test("ending a session: only your own, once; another user's is a 404", async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const other = await createUser(app)

  const theirs = await end(app, user.accessToken, other.sessionId)
  t.equal(theirs.statusCode, 404, "another user's session")
  t.equal(theirs.json().code, 'NOT_FOUND')
  t.equal((await me(app, other.accessToken)).statusCode, 200, 'and it goes on')
  t.equal((await end(app, user.accessToken, '01936b8e-9d40-7a1b-8c2d-3e4f5a6b7c8d')).statusCode, 404, 'an unknown one')
  t.equal((await end(app, user.accessToken, 'not-a-uuid')).statusCode, 400)

  const second = await loginFrom(app, user, '192.0.2.1', 'test')
  t.equal((await end(app, user.accessToken, second.sessionId)).statusCode, 204)
  t.equal((await end(app, user.accessToken, second.sessionId)).statusCode, 404, 'already ended')
  t.equal((await me(app, second.accessToken)).statusCode, 401, 'its access token is refused')
  t.equal((await refresh(app, second.refreshToken)).statusCode, 401, 'its refresh token too')
  t.notOk(
    (await sessionsOf(app, user.accessToken)).some((s) => s.id === second.sessionId),
    'and it leaves the list',
  )

  const events = await app.inject({
    method: 'GET',
    url: `/api/v1/audit-events?action=auth.session.ended&subjectId=${second.sessionId}`,
    headers: user.headers,
  })
  t.match(
    events.json().data,
    [{ actorUserId: user.id, subjectType: 'session', subjectId: second.sessionId, accountId: user.id }],
    'audited',
  )

  t.equal((await end(app, user.accessToken, user.sessionId)).statusCode, 204, 'ending your current session is a logout')
  t.equal((await me(app, user.accessToken)).statusCode, 401)
})

t.test(
  'a session ended on one instance is refused on another at once, and the list agrees',
  { skip: redisUrl() ? false : needsRedis },
  async (t) => {
    const url = await createTestDatabase(t)
    const instance = async () => {
      const app = await buildChecked({ config: testConfig(url), logger: false })
      t.teardown(() => app.close())
      await app.ready()
      return app
    }
    const [a, b] = [await instance(), await instance()]
    const user = await createUser(a)
    const other = await loginFrom(b, user, '203.0.113.50', 'Other device')

    t.equal((await me(b, other.accessToken)).statusCode, 200, 'instance b has the session cached as live')
    t.ok(
      (await sessionsOf(b, user.accessToken)).some((s) => s.id === other.sessionId && !s.current),
      'b lists it',
    )
    t.equal((await end(a, user.accessToken, other.sessionId)).statusCode, 204, 'ended on a')
    t.equal((await me(b, other.accessToken)).statusCode, 401, 'b refuses its access token at once')
    t.equal((await refresh(b, other.refreshToken)).statusCode, 401, 'and its refresh token')
    t.same(
      (await sessionsOf(b, user.accessToken)).map((s) => s.id),
      [user.sessionId],
      'b no longer lists it',
    )
    t.equal((await me(b, user.accessToken)).statusCode, 200, 'the session that ended it goes on')
  },
)
