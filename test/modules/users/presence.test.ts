// Issue 18, items 1, 2 and 8: what outlives a session needs the person, not just a token. Deleting
// the account needs a session (never an API key); creating an API key or a webhook needs the current
// password whatever the token's age; an admin never receives the secret of another user's key.
import t from 'tap'
import { build } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'

const app = await build(t)
const post = (url: string, headers: Record<string, string>, payload: object = {}) =>
  app.inject({ method: 'POST', url: `/api/v1${url}`, headers, payload })

t.test('an API key, even with every scope its owner has, cannot delete the account (403)', async (t) => {
  const owner = await createUser(app)
  const key = await post('/api-keys', owner.headers, { scopes: ['read', 'write'], currentPassword: owner.password })
  t.equal(key.statusCode, 201, key.body)
  const res = await app.inject({ method: 'DELETE', url: `/api/v1/users/${owner.id}`, headers: { 'x-api-key': key.json().data.key } })
  t.equal(res.statusCode, 403)
  t.match(res.json(), { code: 'FORBIDDEN', error: /bearer session/ })
  const still = await app.inject({ method: 'GET', url: `/api/v1/users/${owner.id}`, headers: owner.headers })
  t.equal(still.statusCode, 200, 'the account is still there')
  t.equal(
    (await app.inject({ method: 'DELETE', url: `/api/v1/users/${owner.id}`, headers: owner.headers })).statusCode,
    204,
    'a session can',
  )
})

t.test('a stolen access token alone mints no lasting credential: keys and webhooks need the current password', async (t) => {
  const victim = await createUser(app)
  const hook = { url: 'http://127.0.0.1:9/hook', events: ['product.updated'] }
  for (const [url, payload] of [
    ['/api-keys', { name: 'backdoor' }],
    ['/webhooks', hook],
  ] as const) {
    const missing = await post(url, victim.headers, payload)
    t.equal(missing.statusCode, 400, `${url}: without it`)
    t.match(missing.json().details, [{ field: 'currentPassword' }])
    const wrong = await post(url, victim.headers, { ...payload, currentPassword: 'Guessed-Pass-1' })
    t.equal(wrong.statusCode, 400, `${url}: with a wrong one`)
    t.match(wrong.json().details, [{ field: 'currentPassword', message: 'is incorrect' }])
  }
  const keys = await app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: victim.headers })
  t.equal(keys.json().meta.total, 0, 'no key was made')
  const hooks = await app.inject({ method: 'GET', url: '/api/v1/webhooks', headers: victim.headers })
  t.equal(hooks.json().meta.total, 0, 'no webhook was made')

  t.equal((await post('/api-keys', victim.headers, { name: 'mine', currentPassword: victim.password })).statusCode, 201)
  t.equal((await post('/webhooks', victim.headers, { ...hook, currentPassword: victim.password })).statusCode, 201)
})

t.test('guessing the current password spends the failed-login budget (429)', async (t) => {
  const victim = await createUser(app)
  const codes: number[] = []
  for (let i = 0; i < 11; i++) codes.push((await post('/api-keys', victim.headers, { currentPassword: `Guess-${i}-Pass` })).statusCode)
  t.equal(codes.at(-1), 429, 'refused once the budget of failures for this account from this client is spent')
  const right = await post('/api-keys', victim.headers, { currentPassword: victim.password })
  t.equal(right.statusCode, 429, 'even the right password waits (as a login would)')
})

t.test("an admin may revoke another user's key but never rotate it (the new secret would be the admin's)", async (t) => {
  const admin = await createUser(app, { role: 'admin' })
  const owner = await createUser(app)
  const key = (await post('/api-keys', owner.headers, { name: 'ci', currentPassword: owner.password })).json().data
  const rotated = await post(`/api-keys/${key.id}/rotate`, admin.headers)
  t.equal(rotated.statusCode, 403)
  t.notOk(rotated.json().data, 'no secret in the answer')
  t.match(rotated.json(), { code: 'FORBIDDEN', error: /owner/ })
  const me = await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-api-key': key.key } })
  t.equal(me.statusCode, 200, "the owner's key is untouched")
  const mine = await app.inject({ method: 'GET', url: `/api/v1/api-keys/${key.id}`, headers: owner.headers })
  t.equal(mine.json().data.rotatedAt, null, 'and was not rotated')

  t.equal((await post(`/api-keys/${key.id}/rotate`, owner.headers)).statusCode, 200, 'its owner rotates it')
  t.equal(
    (await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: admin.headers })).statusCode,
    204,
    'an admin revokes it',
  )
})
