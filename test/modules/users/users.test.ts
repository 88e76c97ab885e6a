// Accounts as a client sees them: admins list them, owners read and change them (ETag, If-Match),
// the last admin stays, credentials changes need a bearer session, deletion ends the sessions.
import t from 'tap'
import { build } from '../../helpers/build.js'
import { bearer, createUser, login } from '../../helpers/auth.js'
import { waitFor } from '../../helpers/wait.js'

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

  t.test('walks by cursor and picks fields', async (t) => {
    const first = await list('?cursor=&limit=2&sort=email&fields=email')
    t.equal(first.statusCode, 200)
    t.same(first.json().data, [
      { id: admin.id, email: 'admin@example.com' },
      { id: (await list('?q=carol')).json().data[0].id, email: 'carol@example.com' },
    ])
    t.notOk('total' in first.json().meta, 'keyset pages carry no total')
    const next = await list(`?cursor=${first.json().meta.nextCursor}&limit=2&sort=email&fields=email`)
    t.same(
      next.json().data.map((u: { email: string }) => u.email),
      ['dave@example.com', 'erin@example.com'],
    )
  })

  t.test('refuses unknown sort fields and filters', async (t) => {
    t.equal((await list('?sort=passwordHash')).statusCode, 400)
    t.equal((await list('?role=superuser')).statusCode, 400)
    t.equal((await list('?fields=passwordHash')).statusCode, 400)
    t.equal((await list('?q=a%00b')).statusCode, 400, 'control characters are refused')
  })

  t.test('403 for a moderator, 401 anonymously', async (t) => {
    const res = await list('', mod.headers)
    t.equal(res.statusCode, 403)
    t.equal(res.json().code, 'FORBIDDEN')
    t.equal((await app.inject({ method: 'GET', url: '/api/v1/users' })).statusCode, 401)
  })
})

t.test('one account at a time', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const alice = await createUser(app)
  const bob = await createUser(app)
  const get = (id: string, headers: Record<string, string>) => app.inject({ method: 'GET', url: `/api/v1/users/${id}`, headers })
  const patch = (id: string, headers: Record<string, string>, payload: Record<string, unknown>) =>
    app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers, payload })
  const me = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })

  t.test('GET /users/:id: yourself, or anyone for an admin; the ETag is the version', async (t) => {
    const self = await get(alice.id, alice.headers)
    t.equal(self.statusCode, 200)
    t.match(self.json().data, { id: alice.id, email: alice.email, role: 'user', version: 1 })
    t.notOk('passwordHash' in self.json().data)
    t.equal(self.headers.etag, '"1"')

    const notModified = await get(alice.id, { ...alice.headers, 'if-none-match': '"1"' })
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

  t.test('PATCH changes your own name; each change moves the version on', async (t) => {
    const res = await patch(alice.id, alice.headers, { name: 'Alice A.' })
    t.equal(res.statusCode, 200)
    t.match(res.json().data, { name: 'Alice A.', email: alice.email, version: 2 })
    t.equal(res.headers.etag, '"2"')
    t.equal((await get(alice.id, { ...alice.headers, 'if-none-match': '"1"' })).statusCode, 200, 'an old ETag is not current')
  })

  t.test("BOLA: cannot change another user's account (404)", async (t) => {
    const res = await patch(bob.id, alice.headers, { name: 'pwned' })
    t.equal(res.statusCode, 404)
    t.not((await get(bob.id, bob.headers)).json().data.name, 'pwned')
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
    t.match((await me(promoted.headers)).json().data, { role: 'moderator', permissions: ['read', 'write', 'delete'] })
  })

  t.test('an admin disabling a user cuts its tokens off at once', async (t) => {
    const victim = await createUser(app)
    t.equal((await patch(victim.id, admin.headers, { status: 'disabled' })).json().data.status, 'disabled')
    t.equal((await me(victim.headers)).statusCode, 401)
  })

  t.test('PATCH does not change the email (POST /users/:id/email does, once the new address confirms)', async (t) => {
    const res = await patch(alice.id, alice.headers, { email: bob.email.toUpperCase() })
    t.equal(res.statusCode, 400)
    t.equal(res.json().code, 'VALIDATION_ERROR', 'no EMAIL_TAKEN: the answer says nothing about the address')
    t.equal((await get(alice.id, alice.headers)).json().data.email, alice.email)
  })

  t.test('If-Match: only the version read is changed (412 once it moved on); without it, the current one is', async (t) => {
    const etag = (await get(alice.id, alice.headers)).headers.etag as string
    const first = await patch(alice.id, { ...alice.headers, 'if-match': etag }, { name: 'First' })
    t.equal(first.statusCode, 200)
    const stale = await patch(alice.id, { ...alice.headers, 'if-match': etag }, { name: 'Second' })
    t.equal(stale.statusCode, 412)
    t.equal(stale.json().code, 'PRECONDITION_FAILED')
    t.equal(
      (await patch(alice.id, { ...alice.headers, 'if-match': 'W/"9"' }, { name: 'Weak' })).statusCode,
      412,
      'a weak tag never matches',
    )
    const current = await patch(alice.id, { ...alice.headers, 'if-match': first.headers.etag as string }, { name: 'Second' })
    t.equal(current.statusCode, 200)
    const blind = await patch(alice.id, alice.headers, { name: 'Third' })
    t.equal(blind.statusCode, 200, 'no precondition: applied to the current version')
    t.equal(Number(JSON.parse(blind.headers.etag as string)), Number(JSON.parse(current.headers.etag as string)) + 1)
  })

  t.test('validates the body', async (t) => {
    t.equal((await patch(alice.id, alice.headers, {})).statusCode, 400, 'nothing to change')
    t.equal((await patch(alice.id, alice.headers, { passwordHash: 'x' })).statusCode, 400, 'unknown property')
    t.equal((await patch(alice.id, alice.headers, { email: 'nope' })).statusCode, 400)
    t.equal((await patch(alice.id, alice.headers, { name: 'Evil\u0000Name' })).statusCode, 400, 'a NUL byte in a name')
    t.equal((await patch(alice.id, alice.headers, { name: 'Two\nLines' })).statusCode, 400, 'a line break in a name')
  })

  t.test('a password change needs the current password and signs out everywhere', async (t) => {
    const carol = await createUser(app)
    const missing = await patch(carol.id, carol.headers, { password: 'Brand-New-Pass-7' })
    t.equal(missing.statusCode, 400)
    t.match(missing.json().details, [{ field: 'currentPassword' }])
    const wrong = await patch(carol.id, carol.headers, { password: 'Brand-New-Pass-7', currentPassword: 'Not-The-One-1' })
    t.equal(wrong.statusCode, 400)
    t.match(wrong.json().details, [{ field: 'currentPassword', message: 'is incorrect' }])
    const weak = await patch(carol.id, carol.headers, { password: 'short', currentPassword: carol.password })
    t.equal(weak.statusCode, 400)
    t.match(weak.json().error, /at least 10 characters/)

    const ok = await patch(carol.id, carol.headers, { password: 'Brand-New-Pass-7', currentPassword: carol.password })
    t.equal(ok.statusCode, 200)
    t.equal((await me(carol.headers)).statusCode, 401, 'old access token dead')
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
    const session = await login(app, bob.email, 'Admin-Set-Pass-8')
    bob.headers = bearer(session.accessToken)
  })

  t.test('an email or password change needs a bearer session: an API key gets 403', async (t) => {
    const dave = await createUser(app)
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: dave.headers,
      payload: { currentPassword: dave.password },
    })
    t.equal(created.statusCode, 201, created.body)
    const key = { 'x-api-key': created.json().data.key as string }
    const email = await app.inject({
      method: 'POST',
      url: `/api/v1/users/${dave.id}/email`,
      headers: key,
      payload: { email: 'taken-over@example.com', currentPassword: dave.password },
    })
    t.equal(email.statusCode, 403, 'email')
    t.match(email.json(), { code: 'FORBIDDEN', error: /bearer session/ })
    const password = await patch(dave.id, key, { password: 'Brand-New-Pass-7', currentPassword: dave.password })
    t.equal(password.statusCode, 403, 'password')
    t.match(password.json(), { code: 'FORBIDDEN', error: /bearer session/ })
    const adminKey = await app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: admin.headers,
      payload: { currentPassword: admin.password },
    })
    t.equal(
      (await patch(dave.id, { 'x-api-key': adminKey.json().data.key }, { password: 'Admin-Set-Pass-8' })).statusCode,
      403,
      "nor an admin's key",
    )
    t.equal((await patch(dave.id, key, { name: 'Dave by key' })).statusCode, 200, 'a name change is fine by key')
    t.equal((await get(dave.id, dave.headers)).json().data.email, dave.email, 'nothing else changed')
  })

  t.test('DELETE: yourself or anyone for an admin; the sessions end at once and are forgotten (user.deleted)', async (t) => {
    const del = (id: string, headers: Record<string, string>) => app.inject({ method: 'DELETE', url: `/api/v1/users/${id}`, headers })
    const erin = await createUser(app)
    const frank = await createUser(app)
    t.equal((await del(frank.id, erin.headers)).statusCode, 404, 'BOLA: not your account')
    const self = await del(erin.id, erin.headers)
    t.equal(self.statusCode, 204)
    t.equal(self.body, '')
    t.equal((await me(erin.headers)).statusCode, 401, 'a deleted user is signed out')
    t.equal(
      (await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: erin.refreshToken } })).statusCode,
      401,
    )
    const rows = async (id: string) => (await app.sql`select 1 from sessions where user_id = ${id}`).length
    await waitFor(async () => (await rows(erin.id)) === 0, { what: "the auth module's user.deleted subscriber" })
    t.equal((await app.sql`select 1 from refresh_tokens where user_id = ${erin.id}`).length, 0, 'its refresh tokens are gone too')
    t.equal(await rows(frank.id), 1, "other users' sessions stay")

    t.equal((await del(frank.id, admin.headers)).statusCode, 204)
    t.equal((await del(frank.id, admin.headers)).statusCode, 404)
    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/users/${admin.id}` })).statusCode, 401)
  })
})

t.test('the last active admin cannot be demoted, disabled or deleted (409 LAST_ADMIN)', async (t) => {
  const app = await build(t)
  const root = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const patch = (id: string, headers: Record<string, string>, payload: Record<string, unknown>) =>
    app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers, payload })
  const lastAdmin = (res: { statusCode: number; json: () => { code: string; error: string } }) => {
    t.equal(res.statusCode, 409)
    t.match(res.json(), { code: 'LAST_ADMIN', error: /last active admin/ })
  }

  lastAdmin(await patch(root.id, root.headers, { role: 'moderator' }))
  lastAdmin(await patch(root.id, root.headers, { status: 'disabled' }))
  lastAdmin(await app.inject({ method: 'DELETE', url: `/api/v1/users/${root.id}`, headers: root.headers }))
  t.match((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: root.headers })).json().data, {
    role: 'admin',
    status: 'active',
  })
  t.equal((await patch(root.id, root.headers, { name: 'Still Root' })).statusCode, 200, 'other changes are fine')
  t.equal((await patch(user.id, root.headers, { status: 'disabled' })).statusCode, 200, 'and other users can be disabled')

  // With a second admin, either may go; then the other is the last one.
  const second = await createUser(app, { role: 'admin' })
  t.equal((await patch(root.id, second.headers, { role: 'user' })).statusCode, 200)
  lastAdmin(await patch(second.id, second.headers, { role: 'user' }))

  // Two concurrent demotions of the only two active admins: one wins, one admin is left.
  const third = await createUser(app, { role: 'admin' })
  const results = await Promise.all([
    patch(second.id, third.headers, { role: 'moderator' }),
    patch(third.id, second.headers, { role: 'moderator' }),
  ])
  t.same(results.map((r) => r.statusCode).sort(), [200, 409], 'one demotion wins, the other is refused')
  const [{ n }] = await app.sql<[{ n: number }]>`select count(*)::int as n from users where role = 'admin' and status = 'active'`
  t.equal(n, 1, 'one active admin is left')
})
