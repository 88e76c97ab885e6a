import t from 'tap'
import { build } from '../../helpers/build.js'
import { createUser, DEFAULT_PASSWORD } from '../../helpers/auth.js'
import { waitFor } from '../../helpers/wait.js'
import { userDeleted } from '../../../modules/users/contract.js'

type App = Awaited<ReturnType<typeof build>>
const createKey = (app: App, headers: Record<string, string>, payload: Record<string, unknown> = {}) =>
  app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: { currentPassword: DEFAULT_PASSWORD, ...payload } })
const me = (app: App, key: string) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': key } })

// One app for the file (every test has its own users); the test of a zero grace period builds its own.
const app = await build(t, { API_KEY_GRACE_SECONDS: 3600 })

t.test('creating a key', async (t) => {
  const user = await createUser(app)

  t.test('returns the key once, with a Location, never to be cached', async (t) => {
    const res = await createKey(app, user.headers, { name: 'ci', rateLimit: { max: 50, windowSeconds: 60 } })
    t.equal(res.statusCode, 201)
    t.equal(res.headers['cache-control'], 'no-store')
    const data = res.json().data
    t.equal(res.headers.location, `/api/v1/api-keys/${data.id}`)
    t.match(data.key, /^keel_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    t.ok(data.key.startsWith(data.prefix))
    t.match(data, {
      ownerId: user.id,
      name: 'ci',
      scopes: ['read', 'write'],
      rateLimit: { max: 50, windowSeconds: 60 },
      expiresAt: null,
      lastUsedAt: null,
    })
    const list = await app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: user.headers })
    t.notOk(list.body.includes(data.key), 'never shown again')
    t.notOk('key' in list.json().data[0])
    const one = await app.inject({ method: 'GET', url: res.headers.location as string, headers: user.headers })
    t.equal(one.statusCode, 200, 'the Location answers')
    const { key: _secret, ...shown } = data
    t.same(one.json().data, shown, 'the same key, without the secret')
  })

  t.test('validates the name: no control characters', async (t) => {
    const res = await createKey(app, user.headers, { name: 'ci\u0000' })
    t.equal(res.statusCode, 400)
    t.match(res.json().details, [{ field: 'name' }])
  })

  t.test('refuses scopes the owner does not have (403)', async (t) => {
    const res = await createKey(app, user.headers, { scopes: ['read', 'admin'] })
    t.equal(res.statusCode, 403)
    t.match(res.json().error, /admin/)
  })

  t.test('validates the body', async (t) => {
    t.equal((await createKey(app, user.headers, { scopes: ['root'] })).statusCode, 400)
    t.equal((await createKey(app, user.headers, { ownerId: user.id })).statusCode, 400, 'unknown property')
    const past = await createKey(app, user.headers, { expiresAt: '2000-01-01T00:00:00Z' })
    t.equal(past.statusCode, 400)
    t.match(past.json().details, [{ field: 'expiresAt' }])
  })

  t.test('needs authentication', async (t) => {
    t.equal((await createKey(app, {})).statusCode, 401)
  })
})

t.test('a key authenticates as its owner, narrowed by its scopes', async (t) => {
  const user = await createUser(app)
  const other = await createUser(app)
  const full = (await createKey(app, user.headers)).json().data
  const readOnly = (await createKey(app, user.headers, { scopes: ['read'] })).json().data

  const res = await me(app, full.key)
  t.equal(res.statusCode, 200)
  t.match(res.json().data, { id: user.id, permissions: ['read', 'write'], apiKeyId: full.id })

  t.test('a protected route works with the key', async (t) => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/users/${user.id}`, headers: { 'x-api-key': readOnly.key } })
    t.equal(res.statusCode, 200)
    t.equal(res.json().data.id, user.id)
    t.equal(
      (await app.inject({ method: 'GET', url: `/api/v1/users/${other.id}`, headers: { 'x-api-key': full.key } })).statusCode,
      404,
      'and only for what the owner may see',
    )
  })

  t.test('a read-only key cannot write', async (t) => {
    t.match((await me(app, readOnly.key)).json().data, { permissions: ['read'] })
    const res = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: { 'x-api-key': readOnly.key },
      payload: { name: 'x' },
    })
    t.equal(res.statusCode, 403)
    t.equal((await createKey(app, { 'x-api-key': readOnly.key })).statusCode, 403)
  })

  t.test('unknown, malformed and altered keys are 401 with a challenge', async (t) => {
    const altered = full.key.slice(0, -3) + (full.key.endsWith('aaa') ? 'bbb' : 'aaa')
    for (const key of ['nope', 'keel_0000000000000000_' + 'a'.repeat(43), altered]) {
      const res = await me(app, key)
      t.equal(res.statusCode, 401, key)
      t.match(res.headers['www-authenticate'], /error="invalid_token"/)
    }
  })

  t.test("a disabled owner's keys stop working", async (t) => {
    const admin = await createUser(app, { role: 'admin' })
    const key = (await createKey(app, other.headers)).json().data.key
    t.equal((await me(app, key)).statusCode, 200)
    await app.inject({ method: 'PATCH', url: `/api/v1/users/${other.id}`, headers: admin.headers, payload: { status: 'disabled' } })
    t.equal((await me(app, key)).statusCode, 401)
  })

  t.test("a deleted owner's keys stop at once, and are deleted with the user (user.deleted)", async (t) => {
    const admin = await createUser(app, { role: 'admin' })
    const leaving = await createUser(app)
    const key = (await createKey(app, leaving.headers)).json().data.key
    await createKey(app, leaving.headers)
    t.equal((await me(app, key)).statusCode, 200)
    const total = async () =>
      (await app.inject({ method: 'GET', url: `/api/v1/api-keys?ownerId=${leaving.id}`, headers: admin.headers })).json().meta.total
    await total() // the total is now cached: the subscriber must drop it

    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/users/${leaving.id}`, headers: leaving.headers })).statusCode, 204)
    t.equal((await me(app, key)).statusCode, 401, 'refused from the moment the user is gone')

    await app.events.publish(userDeleted, { userId: leaving.id })
    await waitFor(async () => (await total()) === 0, { what: "the deleted user's keys to be deleted" })
    t.pass('no key of a deleted user is left')
  })
})

t.test('listing keys', async (t) => {
  const admin = await createUser(app, { role: 'admin' })
  const alice = await createUser(app)
  const bob = await createUser(app)
  await createKey(app, alice.headers, { name: 'a1' })
  await createKey(app, alice.headers, { name: 'a2' })
  await createKey(app, bob.headers, { name: 'b1' })
  const list = (query: string, headers: Record<string, string>) => app.inject({ method: 'GET', url: `/api/v1/api-keys${query}`, headers })

  const own = await list('?sort=name', alice.headers)
  t.equal(own.statusCode, 200)
  t.same(
    own.json().data.map((k: { name: string }) => k.name),
    ['a1', 'a2'],
  )
  t.same(own.json().meta, { total: 2, page: 1, limit: 20, offset: 0 })
  t.same(
    (await list(`?ownerId=${bob.id}`, admin.headers)).json().data.map((k: { name: string }) => k.name),
    ['b1'],
    'admins see anyone',
  )
  t.equal((await list(`?ownerId=${bob.id}`, alice.headers)).statusCode, 403, "others' keys are for admins only")
  t.equal((await list('?sort=secretHash', alice.headers)).statusCode, 400)
  t.equal((await list('', {})).statusCode, 401)

  t.test('the total follows creations and deletions (cached, dropped on every write)', async (t) => {
    const total = async () => (await list('', alice.headers)).json().meta.total
    t.equal(await total(), 2)
    const third = (await createKey(app, alice.headers, { name: 'a3' })).json().data
    t.equal(await total(), 3)
    await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${third.id}`, headers: alice.headers })
    t.equal(await total(), 2)
  })
})

t.test('revoking a key', async (t) => {
  const alice = await createUser(app)
  const bob = await createUser(app)
  const key = (await createKey(app, alice.headers)).json().data
  t.equal((await me(app, key.key)).statusCode, 200)

  t.equal(
    (await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: bob.headers })).statusCode,
    404,
    "BOLA: not bob's key",
  )
  t.equal((await me(app, key.key)).statusCode, 200)

  const res = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: alice.headers })
  t.equal(res.statusCode, 204)
  t.equal((await me(app, key.key)).statusCode, 401, 'a revoked key is refused at once')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: alice.headers })).statusCode, 404)
})

t.test('rotating a key: the old one works for the grace period only', async (t) => {
  const alice = await createUser(app)
  const bob = await createUser(app)
  const original = (await createKey(app, alice.headers)).json().data

  t.equal(
    (await app.inject({ method: 'POST', url: `/api/v1/api-keys/${original.id}/rotate`, headers: bob.headers })).statusCode,
    404,
    "BOLA: not bob's key",
  )

  const res = await app.inject({ method: 'POST', url: `/api/v1/api-keys/${original.id}/rotate`, headers: alice.headers })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store', 'a new secret is never cached')
  const rotated = res.json().data
  t.equal(rotated.id, original.id, 'same key id')
  t.not(rotated.key, original.key)
  t.ok(rotated.rotatedAt)
  const graceEnd = Date.parse(rotated.previousKeyValidUntil)
  t.ok(Math.abs(graceEnd - (Date.now() + 3600_000)) < 60_000, 'grace period of API_KEY_GRACE_SECONDS')

  t.equal((await me(app, rotated.key)).statusCode, 200, 'new key works')
  t.equal((await me(app, original.key)).statusCode, 200, 'old key works during the grace period')

  const realNow = app.clock.now
  t.teardown(() => {
    app.clock.now = realNow
  })
  app.clock.now = () => graceEnd + 1
  t.equal((await me(app, original.key)).statusCode, 401, 'old key refused after the grace period')
  t.equal((await me(app, rotated.key)).statusCode, 200, 'new key still works')

  t.equal(
    (await app.inject({ method: 'POST', url: `/api/v1/api-keys/01900000-0000-7000-8000-000000000000/rotate`, headers: alice.headers }))
      .statusCode,
    404,
  )
})

t.test('a key carries its version as an ETag: If-None-Match gives 304 until a rotation moves it', async (t) => {
  const alice = await createUser(app)
  const created = await createKey(app, alice.headers)
  t.equal(created.headers.etag, '"1"', 'the new key answers with its ETag')
  const url = `/api/v1/api-keys/${created.json().data.id}`
  const get = (ifNoneMatch?: string) =>
    app.inject({ method: 'GET', url, headers: { ...alice.headers, ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}) } })

  const first = await get()
  t.equal(first.statusCode, 200)
  t.equal(first.headers.etag, '"1"')
  t.equal(first.json().data.version, 1)
  const unchanged = await get('"1"')
  t.equal(unchanged.statusCode, 304)
  t.equal(unchanged.body, '', 'no body')

  const rotated = await app.inject({ method: 'POST', url: `${url}/rotate`, headers: alice.headers })
  t.equal(rotated.headers.etag, '"2"', 'the rotation answers with the new ETag')
  const stale = await get('"1"')
  t.equal(stale.statusCode, 200, 'the copy from before the rotation is stale')
  t.equal(stale.headers.etag, '"2"')
  t.match(stale.json().data, { version: 2, rotatedAt: rotated.json().data.rotatedAt })
  t.equal((await get('"2"')).statusCode, 304)
})

t.test('rotating with no grace period retires the old key at once', async (t) => {
  const app = await build(t, { API_KEY_GRACE_SECONDS: 0 })
  const alice = await createUser(app)
  const original = (await createKey(app, alice.headers)).json().data
  t.equal((await me(app, original.key)).statusCode, 200, 'used (and its lookup cached) before the rotation')
  const rotated = (await app.inject({ method: 'POST', url: `/api/v1/api-keys/${original.id}/rotate`, headers: alice.headers })).json().data
  t.equal(rotated.previousKeyValidUntil, null)
  t.equal((await me(app, original.key)).statusCode, 401)
  t.equal((await me(app, rotated.key)).statusCode, 200)
})

t.test('a second rotation retires the first key at once, though it was in its grace period', async (t) => {
  const alice = await createUser(app)
  const original = (await createKey(app, alice.headers)).json().data
  const rotate = async () =>
    (await app.inject({ method: 'POST', url: `/api/v1/api-keys/${original.id}/rotate`, headers: alice.headers })).json().data
  const second = await rotate()
  t.equal((await me(app, original.key)).statusCode, 200, 'the first key works during the grace period')
  const third = await rotate()
  t.equal((await me(app, original.key)).statusCode, 401, 'only the key just replaced keeps a grace period')
  t.equal((await me(app, second.key)).statusCode, 200)
  t.equal((await me(app, third.key)).statusCode, 200)
})

t.test('an expiring key stops at expiresAt', async (t) => {
  const alice = await createUser(app)
  const expiresAt = new Date(Date.now() + 3600_000).toISOString()
  const key = (await createKey(app, alice.headers, { expiresAt })).json().data
  t.equal(key.expiresAt, expiresAt)
  t.equal((await me(app, key.key)).statusCode, 200)
  const realNow = app.clock.now
  t.teardown(() => {
    app.clock.now = realNow
  })
  app.clock.now = () => Date.parse(expiresAt) + 1
  t.equal((await me(app, key.key)).statusCode, 401)
})

t.test('lastUsedAt is recorded, at most once a minute', async (t) => {
  const alice = await createUser(app)
  const key = (await createKey(app, alice.headers)).json().data
  const lastUsed = async () =>
    (await app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: alice.headers })).json().data[0].lastUsedAt as string | null

  const start = Date.now()
  const realNow = app.clock.now
  t.teardown(() => {
    app.clock.now = realNow
  })
  app.clock.now = () => start
  await me(app, key.key)
  t.equal(await lastUsed(), new Date(start).toISOString())
  app.clock.now = () => start + 30_000
  await me(app, key.key)
  t.equal(await lastUsed(), new Date(start).toISOString(), 'not written again within the minute')
  app.clock.now = () => start + 61_000
  await me(app, key.key)
  t.equal(await lastUsed(), new Date(start + 61_000).toISOString())

  // GET shows lastUsedAt, so each write of it moves the ETag (created, then written twice).
  const get = (ifNoneMatch: string) =>
    app.inject({ method: 'GET', url: `/api/v1/api-keys/${key.id}`, headers: { ...alice.headers, 'if-none-match': ifNoneMatch } })
  const moved = await get('"1"')
  t.equal(moved.statusCode, 200, 'a copy from before the uses is stale')
  t.equal(moved.headers.etag, '"3"')
  t.equal(moved.json().data.lastUsedAt, new Date(start + 61_000).toISOString())
  t.equal((await get('"3"')).statusCode, 304)
})

t.test("a key's own rate limit applies to requests made with it", async (t) => {
  const alice = await createUser(app)
  const key = (await createKey(app, alice.headers, { rateLimit: { max: 2, windowSeconds: 60 } })).json().data
  const first = await me(app, key.key)
  t.equal(first.headers['x-ratelimit-limit'], '2')
  await me(app, key.key)
  const third = await me(app, key.key)
  t.equal(third.statusCode, 429)
  t.equal(
    (await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: alice.headers })).statusCode,
    200,
    'the owner with a token is not limited by the key',
  )
})
