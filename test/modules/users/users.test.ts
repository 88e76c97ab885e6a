import t from 'tap'
import { build as buildApp } from '../../helpers/build.js'
import { createUser, login } from '../../helpers/auth.js'

// Many logins from one address: lift the login rate limit (its own test is in auth.test.ts).
const build = (t: Parameters<typeof buildApp>[0], overrides: Parameters<typeof buildApp>[1] = {}) =>
  buildApp(t, { RATE_LIMIT_AUTH_MAX: 1000, ...overrides })

t.test('GET /users (admins)', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin', email: 'admin@example.com', name: 'Ada Admin' })
  const mod = await createUser(app, { role: 'moderator', email: 'mod@example.com', name: 'Mo Derator' })
  await createUser(app, { email: 'carol@example.com', name: 'Carol' })
  await createUser(app, { email: 'dave@example.com', name: 'Dave' })
  const list = (query: string, headers = admin.headers) => app.inject({ method: 'GET', url: `/api/v1/users${query}`, headers })

  t.test('lists with the page meta and never a password hash', async (t) => {
    const res = await list('')
    t.equal(res.statusCode, 200)
    t.same(res.json().meta, { total: 4, page: 1, limit: 20, offset: 0 })
    t.equal(res.json().data.length, 4)
    t.notMatch(res.body, /passwordHash|argon2/)
  })

  t.test('filters by role, status and q', async (t) => {
    t.same(
      (await list('?role=moderator')).json().data.map((u: { id: string }) => u.id),
      [mod.id],
    )
    t.equal((await list('?status=disabled')).json().meta.total, 0)
    t.same(
      (await list('?q=CAROL')).json().data.map((u: { email: string }) => u.email),
      ['carol@example.com'],
    )
    t.same((await list('?q=%25')).json().data, [], "'%' is matched literally")
  })

  t.test('sorts and paginates', async (t) => {
    const res = await list('?sort=email&limit=2&page=2')
    t.same(
      res.json().data.map((u: { email: string }) => u.email),
      ['dave@example.com', 'mod@example.com'],
    )
    t.same(res.json().meta, { total: 4, page: 2, limit: 2, offset: 2 })
    const desc = await list('?sort=-name&limit=1')
    t.equal(desc.json().data[0].name, 'Mo Derator')
  })

  t.test('the total follows new users', async (t) => {
    t.equal((await list('?role=user')).json().meta.total, 2)
    await createUser(app, { email: 'erin@example.com' })
    t.equal((await list('?role=user')).json().meta.total, 3)
  })

  t.test('refuses unknown sort fields and filters', async (t) => {
    t.equal((await list('?sort=passwordHash')).statusCode, 400)
    t.equal((await list('?role=superuser')).statusCode, 400)
  })

  t.test('403 for a moderator, 401 anonymously', async (t) => {
    const res = await list('', mod.headers)
    t.equal(res.statusCode, 403)
    t.equal(res.json().code, 'FORBIDDEN')
    t.equal((await app.inject({ method: 'GET', url: '/api/v1/users' })).statusCode, 401)
  })
})

t.test('GET /users/:id: yourself, or anyone for an admin', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const alice = await createUser(app)
  const bob = await createUser(app)
  const get = (id: string, headers: Record<string, string>) => app.inject({ method: 'GET', url: `/api/v1/users/${id}`, headers })

  const self = await get(alice.id, alice.headers)
  t.equal(self.statusCode, 200)
  t.match(self.json().data, { id: alice.id, email: alice.email, role: 'user' })
  t.notOk('passwordHash' in self.json().data)
  t.match(self.headers.etag, /^"[A-Za-z0-9_-]+"$/)

  const notModified = await get(alice.id, { ...alice.headers, 'if-none-match': self.headers.etag as string })
  t.equal(notModified.statusCode, 304)
  t.equal(notModified.body, '')

  const bola = await get(bob.id, alice.headers)
  t.equal(bola.statusCode, 404, "another user's account does not exist for you")
  t.equal(bola.json().code, 'NOT_FOUND')

  t.equal((await get(bob.id, admin.headers)).statusCode, 200)
  t.equal((await get('01900000-0000-7000-8000-000000000000', admin.headers)).statusCode, 404)
  t.equal((await get('not-a-uuid', admin.headers)).statusCode, 400)
  t.equal((await app.inject({ method: 'GET', url: `/api/v1/users/${alice.id}` })).statusCode, 401)
})

t.test('PATCH /users/:id', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const alice = await createUser(app)
  const bob = await createUser(app)
  const patch = (id: string, headers: Record<string, string>, payload: Record<string, unknown>) =>
    app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers, payload })

  t.test('changes your own name and email', async (t) => {
    const res = await patch(alice.id, alice.headers, { name: 'Alice A.' })
    t.equal(res.statusCode, 200)
    t.equal(res.json().data.name, 'Alice A.')
    t.ok(res.headers.etag)
  })

  t.test("BOLA: cannot change another user's account (404)", async (t) => {
    const res = await patch(bob.id, alice.headers, { name: 'pwned' })
    t.equal(res.statusCode, 404)
    const bobNow = await app.inject({ method: 'GET', url: `/api/v1/users/${bob.id}`, headers: bob.headers })
    t.not(bobNow.json().data.name, 'pwned')
  })

  t.test('only admins change role or status (403)', async (t) => {
    const res = await patch(alice.id, alice.headers, { role: 'admin' })
    t.equal(res.statusCode, 403)
    t.equal(res.json().code, 'FORBIDDEN')
    t.equal((await patch(alice.id, alice.headers, { status: 'disabled' })).statusCode, 403)
  })

  t.test("an admin's role change applies to the user's live token at once", async (t) => {
    const promoted = await createUser(app)
    t.equal((await patch(promoted.id, admin.headers, { role: 'moderator' })).statusCode, 200)
    const me = await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: promoted.headers })
    t.match(me.json().data, { role: 'moderator', permissions: ['read', 'write', 'delete'] })
  })

  t.test('an admin disabling a user cuts its tokens off at once', async (t) => {
    const victim = await createUser(app)
    t.equal((await patch(victim.id, admin.headers, { status: 'disabled' })).json().data.status, 'disabled')
    t.equal((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: victim.headers })).statusCode, 401)
  })

  t.test('a taken email is a 409 EMAIL_TAKEN', async (t) => {
    const res = await patch(alice.id, alice.headers, { email: bob.email.toUpperCase() })
    t.equal(res.statusCode, 409)
    t.equal(res.json().code, 'EMAIL_TAKEN')
  })

  t.test('If-Match: a stale ETag is a 412, the current one works', async (t) => {
    const current = await app.inject({ method: 'GET', url: `/api/v1/users/${alice.id}`, headers: alice.headers })
    const etag = current.headers.etag as string
    t.equal((await patch(alice.id, { ...alice.headers, 'if-match': etag }, { name: 'First' })).statusCode, 200)
    const stale = await patch(alice.id, { ...alice.headers, 'if-match': etag }, { name: 'Second' })
    t.equal(stale.statusCode, 412)
    t.equal(stale.json().code, 'PRECONDITION_FAILED')
  })

  t.test('validates the body', async (t) => {
    t.equal((await patch(alice.id, alice.headers, {})).statusCode, 400, 'nothing to change')
    t.equal((await patch(alice.id, alice.headers, { passwordHash: 'x' })).statusCode, 400, 'unknown property')
    t.equal((await patch(alice.id, alice.headers, { email: 'nope' })).statusCode, 400)
  })

  t.test('a password change needs the current password and signs out everywhere', async (t) => {
    const carol = await createUser(app)
    const missing = await patch(carol.id, carol.headers, { password: 'Brand-New-Pass-7' })
    t.equal(missing.statusCode, 400)
    t.match(missing.json().details, [{ field: 'currentPassword' }])
    const wrong = await patch(carol.id, carol.headers, { password: 'Brand-New-Pass-7', currentPassword: 'Not-The-One-1' })
    t.equal(wrong.statusCode, 400)
    const weak = await patch(carol.id, carol.headers, { password: 'short', currentPassword: carol.password })
    t.equal(weak.statusCode, 400)
    t.match(weak.json().error, /at least 10 characters/)

    const ok = await patch(carol.id, carol.headers, { password: 'Brand-New-Pass-7', currentPassword: carol.password })
    t.equal(ok.statusCode, 200)
    t.equal((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: carol.headers })).statusCode, 401, 'old access token dead')
    t.equal(
      (await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: carol.refreshToken } })).statusCode,
      401,
      'old refresh token dead',
    )
    await t.rejects(login(app, carol.email, carol.password), /401/)
    t.ok(await login(app, carol.email, 'Brand-New-Pass-7'))
  })

  t.test('an admin resets another password without the current one', async (t) => {
    const res = await patch(bob.id, admin.headers, { password: 'Admin-Set-Pass-8' })
    t.equal(res.statusCode, 200)
    t.ok(await login(app, bob.email, 'Admin-Set-Pass-8'))
  })
})

t.test('DELETE /users/:id', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const alice = await createUser(app)
  const bob = await createUser(app)
  const del = (id: string, headers: Record<string, string>) => app.inject({ method: 'DELETE', url: `/api/v1/users/${id}`, headers })

  t.equal((await del(bob.id, alice.headers)).statusCode, 404, 'BOLA: not your account')
  const self = await del(alice.id, alice.headers)
  t.equal(self.statusCode, 204)
  t.equal(self.body, '')
  t.equal(
    (await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: alice.headers })).statusCode,
    401,
    'a deleted user is signed out',
  )
  t.equal((await del(bob.id, admin.headers)).statusCode, 204)
  t.equal((await del(bob.id, admin.headers)).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/users/${admin.id}` })).statusCode, 401)
})
