// An ended session stops its access tokens at once on every instance: the session's state is
// checked on each request through the shared cache (dropped when the session ends), and read from
// the database while Redis is down.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { createTestDatabase, needsRedis, redisUrl, testConfig, buildChecked } from '../../helpers/build.js'
import { bearer, createUser, login } from '../../helpers/auth.js'
import { freePort, startRedis, stopRedis } from '../../helpers/redis-server.js'

const me = (app: FastifyInstance, accessToken: string) =>
  app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(accessToken) })

async function instance(t: Parameters<typeof createTestDatabase>[0], url: string, overrides: Parameters<typeof testConfig>[1] = {}) {
  const app = await buildChecked({ config: testConfig(url, overrides), logger: false })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

t.test(
  'ending a session on one instance stops its access tokens on another at once',
  { skip: redisUrl() ? false : needsRedis },
  async (t) => {
    const url = await createTestDatabase(t)
    const [a, b] = [await instance(t, url), await instance(t, url)]
    const user = await createUser(a)

    t.test('logout', async (t) => {
      const session = await login(a, user.email, user.password)
      t.equal((await me(b, session.accessToken)).statusCode, 200, 'instance b has the session cached as live')
      t.equal((await a.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(session.accessToken) })).statusCode, 204)
      t.equal((await me(b, session.accessToken)).statusCode, 401, 'b refuses it at once')
      t.equal((await me(b, user.accessToken)).statusCode, 200, 'other sessions go on')
    })

    t.test('a refresh token used twice', async (t) => {
      const session = await login(a, user.email, user.password)
      const refresh = (app: FastifyInstance) =>
        app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: session.refreshToken } })
      t.equal((await refresh(a)).statusCode, 200)
      t.equal((await me(b, session.accessToken)).statusCode, 200)
      t.equal((await refresh(b)).statusCode, 401, 'the replay, on the other instance')
      t.equal((await me(a, session.accessToken)).statusCode, 401, 'ends the access tokens of its session everywhere')
      t.equal((await me(b, session.accessToken)).statusCode, 401)
    })
  },
)

t.test('with Redis down, a session is checked in the database: a logout still applies at once', async (t) => {
  const port = await freePort()
  const redis = await startRedis(port)
  t.teardown(() => (redis.signalCode === null ? stopRedis(redis) : undefined)) // unless the test killed it
  const app = await instance(t, await createTestDatabase(t), { REDIS_URL: `redis://127.0.0.1:${port}` })
  const user = await createUser(app)
  const session = await login(app, user.email, user.password)
  t.equal((await me(app, session.accessToken)).statusCode, 200, 'cached as live in Redis')

  await stopRedis(redis)
  t.equal((await me(app, session.accessToken)).statusCode, 200, 'still served, from the database')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(session.accessToken) })).statusCode, 204)
  t.equal((await me(app, session.accessToken)).statusCode, 401, 'the ended session is refused')
  t.equal((await me(app, user.accessToken)).statusCode, 200, 'another session goes on')
  const again = await login(app, user.email, user.password)
  t.equal((await me(app, again.accessToken)).statusCode, 200, 'and logging in works (the failed-login budgets fail open)')
})
