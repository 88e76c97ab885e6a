// Issue 9, item 8: a caller that sends an API key or a bearer token to a public route is identified
// and limited as itself — its owner, whose budget all its sessions and keys share (issue 18, item
// 7) — not on the anonymous per-IP budget; invalid credentials there are anonymous.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { createUser, DEFAULT_PASSWORD } from '../../helpers/auth.js'

const products = (app: FastifyInstance, headers: Record<string, string> = {}, remoteAddress?: string) =>
  app.inject({ method: 'GET', url: '/api/v1/products', headers, ...(remoteAddress ? { remoteAddress } : {}) })

t.test('on a public route, a key or a token is limited as its owner, an anonymous caller by its IP', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: 3, RATE_LIMIT_WINDOW_SECONDS: 60 })
  const createKey = async (headers: Record<string, string>, payload: Record<string, unknown>) =>
    (
      await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: { currentPassword: DEFAULT_PASSWORD, ...payload } })
    ).json().data.key as string
  const alice = await createUser(app)
  const key = await createKey(alice.headers, { name: 'reader' })
  const bob = await createUser(app)
  const tiny = await createKey(bob.headers, { name: 'tiny', rateLimit: { max: 1, windowSeconds: 60 } })

  // Logging alice and bob in spent some of 127.0.0.1's anonymous budget: the anonymous caller here is another address.
  const anonymous = '192.0.2.10'
  for (let i = 0; i < 3; i++) t.equal((await products(app, {}, anonymous)).statusCode, 200)
  t.equal((await products(app, {}, anonymous)).statusCode, 429, 'the anonymous budget of this address is spent')

  const withKey = await products(app, { 'x-api-key': key })
  t.equal(withKey.statusCode, 200, "a key spends its owner's budget, not the address's")
  t.equal(withKey.headers['x-ratelimit-remaining'], '1', 'alice created a key with it before')
  const withToken = await products(app, alice.headers, anonymous)
  t.equal(withToken.statusCode, 200, 'so does her token, even from the spent address (a token is checked locally)')
  t.equal(withToken.headers['x-ratelimit-remaining'], '0', 'one budget for alice, her sessions and her keys, across routes')
  t.equal((await products(app, { 'x-api-key': key })).statusCode, 429)

  const own = await products(app, { 'x-api-key': tiny })
  t.equal(own.headers['x-ratelimit-limit'], '1', "a key's own, tighter limit applies on public routes")
  t.equal((await products(app, { 'x-api-key': tiny })).statusCode, 429)

  t.test('invalid credentials on a public route are anonymous: answered as to anyone, on the per-IP budget', async (t) => {
    const bad = { 'x-api-key': 'keel_0000000000000000_' + 'a'.repeat(43) }
    t.equal((await products(app, bad, anonymous)).statusCode, 429, 'no escape from the spent per-IP budget')
    t.equal((await products(app, { authorization: 'Bearer nope' }, anonymous)).statusCode, 429)
    const elsewhere = await products(app, bad, '10.9.8.7')
    t.equal(elsewhere.statusCode, 200, 'not a 401: a public route answers everyone alike')
    t.equal(elsewhere.headers['x-ratelimit-remaining'], '2', "counted on that address's budget")
    t.notOk(elsewhere.headers['www-authenticate'])
    t.equal(
      (await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bad })).statusCode,
      401,
      'a protected route still refuses it',
    )
  })
})
