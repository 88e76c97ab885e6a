// Sign-up, login, tokens, sessions (refresh rotation, reuse, logout) as a client sees them.
// Failed-login budgets: brute-force.test.ts; sessions across instances and with Redis down: sessions.test.ts.
import t from 'tap'
import { build } from '../../helpers/build.js'
import { bearer, createUser, decodeJwt, handMadeJwt, login } from '../../helpers/auth.js'
import { waitFor } from '../../helpers/wait.js'

const SECRET = 'test-secret-that-is-at-least-32-characters-long' // test/helpers/build.ts
// One app for the file: every test works on its own accounts.
const app = await build(t)
const register = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/v1/auth/register', payload })

t.test('register', async (t) => {
  t.test('creates a user with the user role, a Location and no password hash', async (t) => {
    const res = await register({ email: 'New.Person@Example.com', password: 'Sturdy-Pass-42', name: 'New Person' })
    t.equal(res.statusCode, 201)
    const user = res.json().data
    t.equal(res.headers.location, `/api/v1/users/${user.id}`)
    t.match(user, { email: 'new.person@example.com', name: 'New Person', role: 'user', status: 'active' })
    t.notOk('passwordHash' in user)
    t.notMatch(res.body, /argon2/)
    t.match(user.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'a UUIDv7')
  })

  t.test('refuses a role in the body', async (t) => {
    const res = await register({ email: 'sneaky@example.com', password: 'Sturdy-Pass-42', role: 'admin' })
    t.equal(res.statusCode, 400)
    t.equal(res.json().code, 'VALIDATION_ERROR')
    t.match(res.json().details, [{ field: 'role', message: "unknown property 'role'" }])
    const again = await login(app, 'sneaky@example.com', 'Sturdy-Pass-42').catch((e: Error) => e.message)
    t.match(again, /login failed: 401/, 'no account was created')
  })

  t.test('answers 409 EMAIL_TAKEN for an existing email, whatever its case', async (t) => {
    await register({ email: 'taken@example.com', password: 'Sturdy-Pass-42' })
    const res = await register({ email: 'TAKEN@example.com', password: 'Another-Pass-43' })
    t.equal(res.statusCode, 409)
    t.equal(res.json().code, 'EMAIL_TAKEN')
  })

  t.test('says why a password is too weak', async (t) => {
    const cases: Array<[string, RegExp]> = [
      ['Short-1', /at least 10 characters/],
      ['alllowercaseletters', /two kinds of characters/],
      ['weakling@example.com', /email/],
      ['Password123', /too common/],
    ]
    for (const [password, why] of cases) {
      const res = await register({ email: 'weakling@example.com', password })
      t.equal(res.statusCode, 400, password)
      t.equal(res.json().code, 'VALIDATION_ERROR')
      t.match(res.json().error, why, password)
      t.match(res.json().details, [{ field: 'password' }])
    }
  })

  t.test('publishes user.registered in its transaction, and the welcome email follows', async (t) => {
    const email = 'welcome-me@example.com'
    const jobsFor = async (address: string) =>
      (await app.sql<{ name: string }[]>`select name from pgboss_v12.job where data->'data'->>'email' = ${address} order by name`).map(
        (j) => j.name,
      )
    const res = await register({ email, password: 'Sturdy-Pass-42', name: 'Wel Come' })
    t.equal(res.statusCode, 201)
    t.ok((await jobsFor(email)).includes('emails.welcome'), 'the welcome subscriber was queued with the account')
    const again = await register({ email: email.toUpperCase(), password: 'Sturdy-Pass-42' })
    t.equal(again.statusCode, 409)
    t.equal((await jobsFor(email)).filter((n) => n === 'emails.welcome').length, 1, 'a refused registration publishes nothing')

    const admin = await createUser(app, { role: 'admin' })
    const welcome = await waitFor(
      async () => {
        const list = await app.inject({ method: 'GET', url: `/api/v1/emails?to=${email}&template=welcome`, headers: admin.headers })
        return (list.json().data as { status: string }[]).find((e) => e.status === 'sent')
      },
      { what: 'the welcome email' },
    )
    t.ok(welcome, 'sent by the emails module (its emails.welcome subscriber)')
  })

  t.test('validates the email', async (t) => {
    const res = await register({ email: 'not-an-email', password: 'Sturdy-Pass-42' })
    t.equal(res.statusCode, 400)
    t.match(res.json().details, [{ field: 'email' }])
  })
})

t.test('login', async (t) => {
  const user = await createUser(app, { email: 'login@example.com', password: 'Right-Password-1' })

  t.test('returns a pinned HS256 access token with issuer, audience, version and TTL, and a refresh token', async (t) => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'LOGIN@example.com', password: 'Right-Password-1' },
    })
    t.equal(res.statusCode, 200)
    const data = res.json().data
    t.match(data, { tokenType: 'Bearer', expiresIn: 900, sessionId: String, user: { id: user.id, email: 'login@example.com' } })
    t.equal(JSON.parse(Buffer.from(data.accessToken.split('.')[0], 'base64url').toString()).alg, 'HS256')
    const claims = decodeJwt(data.accessToken)
    t.match(claims, { sub: user.id, iss: 'keel', aud: 'keel-api', ver: 0, sid: data.sessionId })
    t.not(data.sessionId, user.sessionId, 'each login opens its own session')
    t.equal(res.headers['cache-control'], 'no-store', 'tokens are never cached')
    t.equal(Number(claims.exp) - Number(claims.iat), 900)
    t.match(data.refreshToken, /^[A-Za-z0-9_-]{43}$/)
  })

  t.test('answers the same 401 for a wrong password and an unknown email', async (t) => {
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'login@example.com', password: 'Wrong-Password-1' },
    })
    const unknown = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'nobody@example.com', password: 'Wrong-Password-1' },
    })
    t.equal(wrong.statusCode, 401)
    t.equal(unknown.statusCode, 401)
    const { requestId: _a, ...a } = wrong.json()
    const { requestId: _b, ...b } = unknown.json()
    t.same(a, b)
    t.equal(a.code, 'INVALID_CREDENTIALS')
  })

  t.test('spends comparable time on an unknown email (a dummy hash is verified)', async (t) => {
    const time = async (email: string) => {
      const samples: number[] = []
      for (let i = 0; i < 3; i++) {
        const start = performance.now()
        await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'Wrong-Password-1' } })
        samples.push(performance.now() - start)
      }
      return samples.sort((x, y) => x - y)[1]!
    }
    const known = await time('login@example.com')
    const unknown = await time('nobody@example.com')
    t.ok(unknown > known / 3, `unknown email ${unknown.toFixed(1)} ms vs wrong password ${known.toFixed(1)} ms`)
  })

  t.test('validates the body', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'login@example.com' } })
    t.equal(res.statusCode, 400)
    t.match(res.json().details, [{ field: 'password', message: 'is required' }])
  })
})

t.test('me and bearer tokens', async (t) => {
  const user = await createUser(app)

  t.test('GET /auth/me returns the caller and its permissions', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })
    t.equal(res.statusCode, 200)
    t.match(res.json().data, { id: user.id, role: 'user', permissions: ['read', 'write'], apiKeyId: null })
  })

  t.test('no credentials: 401 with a Bearer challenge', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/auth/me' })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'UNAUTHORIZED')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="keel"')
  })

  const other = await createUser(app)
  const ended = await login(app, user.email, user.password)
  await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(ended.accessToken) })

  const now = Math.floor(Date.now() / 1000)
  const good = { sub: user.id, role: 'user', ver: 0, sid: user.sessionId, iss: 'keel', aud: 'keel-api', iat: now, exp: now + 600 }
  const without = (claim: keyof typeof good) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== claim))
  const [head, body, sig] = user.accessToken.split('.')
  const forgedBody = Buffer.from(
    JSON.stringify({ ...decodeJwt(user.accessToken), role: 'admin', sub: '00000000-0000-7000-8000-000000000000' }),
  ).toString('base64url')
  const bad: Record<string, string> = {
    'a tampered payload': `${head}.${forgedBody}.${sig}`,
    'a tampered signature': `${head}.${body}.${sig!.slice(0, -2)}${sig!.endsWith('AA') ? 'BB' : 'AA'}`,
    'alg none': handMadeJwt(good, null),
    'alg none with a signature': handMadeJwt(good, SECRET, { alg: 'none', typ: 'JWT' }),
    'another key': handMadeJwt(good, 'another-secret-that-is-at-least-32-characters'),
    'an expired token': handMadeJwt({ ...good, iat: now - 3600, exp: now - 60 }, SECRET),
    'another issuer': handMadeJwt({ ...good, iss: 'someone-else' }, SECRET),
    'another audience': handMadeJwt({ ...good, aud: 'other-api' }, SECRET),
    'a stale token version': handMadeJwt({ ...good, ver: 7 }, SECRET),
    'no issuer': handMadeJwt(without('iss'), SECRET),
    'no audience': handMadeJwt(without('aud'), SECRET),
    'no session': handMadeJwt(without('sid'), SECRET),
    'an unknown session': handMadeJwt({ ...good, sid: '01900000-0000-7000-8000-000000000000' }, SECRET),
    "another user's session": handMadeJwt({ ...good, sid: other.sessionId }, SECRET),
    'an ended session': handMadeJwt({ ...good, sid: ended.sessionId }, SECRET),
    garbage: 'not.a.jwt',
  }
  t.test('a hand-made token with the right key and claims is accepted (control)', async (t) => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${handMadeJwt(good, SECRET)}` },
    })
    t.equal(res.statusCode, 200)
  })
  for (const [name, token] of Object.entries(bad)) {
    t.test(`${name} is refused with 401 invalid_token`, async (t) => {
      const res = await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } })
      t.equal(res.statusCode, 401)
      t.equal(res.json().code, 'UNAUTHORIZED')
      t.match(res.headers['www-authenticate'], /^Bearer realm="keel", error="invalid_token"/)
    })
  }
  t.test('a non-Bearer Authorization header is refused', async (t) => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    })
    t.equal(res.statusCode, 401)
  })
})

t.test('refresh tokens rotate, and a spent one revokes its family', async (t) => {
  const user = await createUser(app)
  const refresh = (refreshToken: string) => app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } })

  const me = (accessToken: string) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(accessToken) })
  const other = await login(app, user.email, user.password)

  const first = await refresh(user.refreshToken)
  t.equal(first.statusCode, 200)
  t.equal(first.headers['cache-control'], 'no-store', 'tokens are never cached')
  const rotated = first.json().data
  t.not(rotated.refreshToken, user.refreshToken, 'a new refresh token')
  t.match(rotated, { tokenType: 'Bearer', expiresIn: 900, sessionId: user.sessionId })
  t.equal(decodeJwt(rotated.accessToken).sid, user.sessionId, 'the same session')
  t.equal((await me(rotated.accessToken)).statusCode, 200)
  t.equal((await me(user.accessToken)).statusCode, 200, "the session's earlier access token lives on")

  const replay = await refresh(user.refreshToken)
  t.equal(replay.statusCode, 401, 'the spent token is refused')
  t.equal(replay.json().code, 'INVALID_REFRESH_TOKEN')
  t.equal((await refresh(rotated.refreshToken)).statusCode, 401, 'and so is the rest of its family')
  t.equal((await me(rotated.accessToken)).statusCode, 401, "and the session's access tokens, at once")
  t.equal((await me(user.accessToken)).statusCode, 401, 'all of them')

  t.equal((await refresh(other.refreshToken)).statusCode, 200, 'another session (family) is unaffected')
  t.equal((await me(other.accessToken)).statusCode, 200)

  t.equal((await refresh('not-a-real-token')).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: {} })).statusCode, 400)
})

t.test('logout', async (t) => {
  const user = await createUser(app)
  const refresh = (refreshToken: string) => app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } })
  const me = (accessToken: string) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(accessToken) })
  const logout = (accessToken: string, payload?: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(accessToken), ...(payload ? { payload } : {}) })

  t.test('with no body ends the session at once: its refresh and access tokens', async (t) => {
    const session = await login(app, user.email, user.password)
    const next = (await refresh(session.refreshToken)).json().data // a second access token of the same session
    t.equal((await me(session.accessToken)).statusCode, 200)
    const res = await logout(next.accessToken)
    t.equal(res.statusCode, 204)
    t.equal((await me(next.accessToken)).statusCode, 401, 'the access token used to log out')
    const earlier = await me(session.accessToken)
    t.equal(earlier.statusCode, 401, 'and every other access token of the session (it was cached as live: the logout dropped it)')
    t.match(earlier.headers['www-authenticate'], /error="invalid_token"/)
    t.equal((await refresh(next.refreshToken)).statusCode, 401, 'its refresh token')
    t.equal((await me(user.accessToken)).statusCode, 200, 'other sessions go on')
    t.equal((await refresh(user.refreshToken)).statusCode, 200)
  })

  t.test('a refresh token in the body ends its session too (when it is yours)', async (t) => {
    const a = await login(app, user.email, user.password)
    const b = await login(app, user.email, user.password)
    const stranger = await createUser(app)
    t.equal((await logout(a.accessToken, { refreshToken: b.refreshToken })).statusCode, 204)
    t.equal((await me(b.accessToken)).statusCode, 401)
    t.equal((await refresh(b.refreshToken)).statusCode, 401)
    const c = await login(app, user.email, user.password)
    t.equal((await logout(c.accessToken, { refreshToken: stranger.refreshToken })).statusCode, 204)
    t.equal((await me(stranger.accessToken)).statusCode, 200, "someone else's session is not yours to end")
  })

  t.test('needs a bearer session: none is 401, an API key is 403', async (t) => {
    t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/logout' })).statusCode, 401)
    const key = await app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: user.headers,
      payload: { currentPassword: user.password },
    })
    t.equal(key.statusCode, 201, key.body)
    for (const payload of [undefined, { all: true }]) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { 'x-api-key': key.json().data.key }, payload })
      t.equal(res.statusCode, 403)
      t.equal(res.json().code, 'FORBIDDEN')
    }
    t.equal((await me(user.accessToken)).statusCode, 200, 'nothing was ended')
  })

  t.test('all=true invalidates every access and refresh token at once', async (t) => {
    const a = await login(app, user.email, user.password)
    const b = await login(app, user.email, user.password)
    t.equal((await logout(a.accessToken, { all: true })).statusCode, 204)
    for (const token of [a.accessToken, b.accessToken]) {
      const res = await me(token)
      t.equal(res.statusCode, 401)
      t.match(res.headers['www-authenticate'], /error="invalid_token"/)
    }
    t.equal((await refresh(b.refreshToken)).statusCode, 401)
    const fresh = await login(app, user.email, user.password)
    t.equal(decodeJwt(fresh.accessToken).ver, 1, 'new tokens carry the new version')
    t.equal((await me(fresh.accessToken)).statusCode, 200)
  })
})

t.test('logout everywhere also applies at once with the in-process cache (no Redis)', async (t) => {
  const app = await build(t, { REDIS_URL: undefined })
  const user = await createUser(app)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode, 200, 'state now cached')
  await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers, payload: { all: true } })
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode, 401)
})

t.test('a disabled user can neither log in nor refresh', async (t) => {
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${user.id}`,
    headers: admin.headers,
    payload: { status: 'disabled' },
  })
  t.equal(res.statusCode, 200)
  const loginRes = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password } })
  t.equal(loginRes.statusCode, 403)
  t.equal(loginRes.json().code, 'ACCOUNT_DISABLED')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: user.refreshToken } })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: user.headers })).statusCode, 401)
})

t.test('the daily job forgets stale refresh tokens and keeps live ones', async (t) => {
  const user = await createUser(app)
  const old = await login(app, user.email, user.password)
  await app.sql`update refresh_tokens set expires_at = now() - interval '2 days' where user_id = ${user.id} and id = (select id from refresh_tokens where user_id = ${user.id} order by created_at desc limit 1)`
  const job = app.jobs.definitions.get('auth.purge-refresh-tokens')!
  t.ok(job.schedule, 'scheduled')
  await job.handler({}, { id: 'test', retryCount: 0, retryLimit: 0, isFinalAttempt: true, log: app.log })
  const [{ n }] = await app.sql<[{ n: number }]>`select count(*)::int as n from refresh_tokens where user_id = ${user.id}`
  t.equal(n, 1, 'one stale token gone, the live one kept')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: user.refreshToken } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: old.refreshToken } })).statusCode, 401)
})
