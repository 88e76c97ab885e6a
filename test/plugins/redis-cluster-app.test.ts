// The whole app on a real Redis Cluster of three masters (REDIS_CLUSTER_NODES, started here): the
// rate limiter, the cache (single resources, list totals and their invalidation, a logout everywhere
// deleting the keys of several sessions at once) and the failed-login budgets all run without a
// single refused command (no CROSSSLOT), and their keys spread over the masters.
import t from 'tap'
import { Cluster } from 'ioredis'
import { build } from '../helpers/build.js'
import { createUser, login } from '../helpers/auth.js'
import { hasRedisCluster, startRedisCluster } from '../helpers/redis-cluster.js'

t.test(
  'limiter, cache and login budgets on a Redis Cluster',
  { skip: hasRedisCluster ? false : 'needs redis-server and redis-cli on PATH' },
  async (t) => {
    const cluster = await startRedisCluster()
    t.teardown(() => cluster.stop())
    const app = await build(t, {
      REDIS_URL: undefined,
      REDIS_CLUSTER_NODES: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(','),
      RATE_LIMIT_MAX: 1000,
      // (A loaded test machine answers slowly: a timed-out command would bypass the cache, not fail it.)
      REDIS_COMMAND_TIMEOUT_MS: 2000,
      RATE_LIMIT_LOGIN_CLIENT_ACCOUNT_MAX: 3,
      RATE_LIMIT_LOGIN_DELAY_SECONDS: 0,
    })
    t.equal(app.cache.stats().backend, 'redis')
    t.equal(app.rateLimitStats().backend, 'redis')

    const seller = await createUser(app)
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: seller.headers,
      payload: { name: 'Cluster lamp', priceCents: 1999, stock: 3 },
    })
    t.equal(created.statusCode, 201)
    const id = created.json().data.id as string

    await t.test('the cache: a product read twice is served from Redis; a change is seen at once', async (t) => {
      const read = () => app.inject({ method: 'GET', url: `/api/v1/products/${id}` })
      const before = app.cache.stats().hits
      t.equal((await read()).statusCode, 200)
      t.equal((await read()).statusCode, 200)
      t.ok(app.cache.stats().hits > before, 'a cache hit')
      const patched = await app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${id}`,
        headers: { ...seller.headers, 'if-match': (await read()).headers.etag as string },
        payload: { name: 'Cluster lamp, renamed' },
      })
      t.equal(patched.statusCode, 200)
      t.equal((await read()).json().data.name, 'Cluster lamp, renamed', 'the cached copy was dropped')
    })

    await t.test('list totals: cached, and a new product changes them at once', async (t) => {
      const total = async () => (await app.inject({ method: 'GET', url: '/api/v1/products' })).json().meta.total as number
      const first = await total()
      t.equal(await total(), first, 'the same total from the count cache')
      const another = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: seller.headers,
        payload: { name: 'Cluster chair', priceCents: 500, stock: 1 },
      })
      t.equal(another.statusCode, 201)
      t.equal(await total(), first + 1, 'the generation bump reached the cached totals')
    })

    await t.test('a logout everywhere deletes the cached state of several sessions at once', async (t) => {
      const sessions = [await login(app, seller.email, seller.password), await login(app, seller.email, seller.password)]
      const me = (token: string) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } })
      for (const s of sessions) t.equal((await me(s.accessToken)).statusCode, 200, 'a session in use (its state cached)')
      const out = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: seller.headers, payload: { all: true } })
      t.equal(out.statusCode, 204)
      for (const s of sessions) t.equal((await me(s.accessToken)).statusCode, 401, 'every session ended')
    })

    await t.test('failed-login budgets: the fourth wrong password for one account is refused', async (t) => {
      const wrong = () =>
        app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: seller.email, password: 'Wrong-Horse-9-Battery' } })
      const statuses = []
      for (let i = 0; i < 4; i++) statuses.push((await wrong()).statusCode)
      t.same(statuses, [401, 401, 401, 429])
    })

    await t.test('the global rate limit counts in Redis on the cluster', async (t) => {
      const limited = await build(t, {
        REDIS_URL: undefined,
        REDIS_CLUSTER_NODES: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(','),
        RATE_LIMIT_MAX: 3,
      })
      const statuses = []
      for (let i = 0; i < 4; i++) statuses.push((await limited.inject({ method: 'GET', url: '/api/v1/products' })).statusCode)
      t.same(statuses, [200, 200, 200, 429])
      t.equal(limited.rateLimitStats().failedOpen, 0, 'never let through because Redis failed')
    })

    await t.test('no Redis command was refused, and the keys spread over the masters', async (t) => {
      t.equal(app.cache.stats().errors, 0, 'no cache command failed (a CROSSSLOT would count here)')
      t.equal(app.rateLimitStats().failedOpen, 0, 'the limiter never failed open')
      const client = new Cluster(cluster.nodes)
      t.teardown(() => client.disconnect())
      await client.ping() // (connected: the masters are known)
      const sizes = await Promise.all(client.nodes('master').map((node) => node.dbsize()))
      t.ok(sizes.length === 3 && sizes.every((n) => n > 0), `keys per master: ${sizes.join(', ')}`)
    })
  },
)
