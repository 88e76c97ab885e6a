// Redis behind Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME): the app asks the sentinel for the
// master and uses it; after a failover (SENTINEL FAILOVER: the replica promoted, the old master
// turned into its replica) the cache and the limiter's budgets land on the new master by themselves,
// without a restart, and readiness is healthy again.
import t from 'tap'
import { build } from '../helpers/build.js'
import { createUser } from '../helpers/auth.js'
import { hasRedisCluster } from '../helpers/redis-cluster.js'
import { startRedisSentinel } from '../helpers/redis-sentinel.js'
import { waitFor } from '../helpers/wait.js'

t.test('Redis through Sentinel, across a failover', { skip: hasRedisCluster ? false : 'needs redis-server on PATH' }, async (t) => {
  const sentinel = await startRedisSentinel()
  t.teardown(() => sentinel.stop())
  const app = await build(t, {
    REDIS_URL: undefined,
    REDIS_SENTINELS: sentinel.sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
    REDIS_SENTINEL_NAME: sentinel.name,
    RATE_LIMIT_LOGIN_CLIENT_ACCOUNT_MAX: 3,
    RATE_LIMIT_LOGIN_DELAY_SECONDS: 0,
  })
  const prefix = app.config.REDIS_KEY_PREFIX
  const user = await createUser(app)
  const wrongLogins = async () => {
    const statuses = []
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: `Wrong-Horse-${i}-x` },
      })
      statuses.push(res.statusCode)
    }
    return statuses
  }

  const first = await sentinel.masterPort()
  await app.cache.set('sentinel-check', 1)
  t.equal(await sentinel.server(first).get(`${prefix}cache:sentinel-check`), '1', 'the cache writes to the master the sentinel names')
  t.same(await wrongLogins(), [401, 401, 401, 429], 'the failed-login budget counts there')

  const promoted = await sentinel.failover()
  t.not(promoted, first, 'the replica is the master now')
  const newMaster = sentinel.server(promoted)
  // The app follows by itself: a value written through it lands on the new master.
  let n = 0
  await waitFor(
    async () => {
      await app.cache.set('sentinel-check', ++n)
      return (await newMaster.get(`${prefix}cache:sentinel-check`)) === String(n)
    },
    { what: 'the cache to write to the new master', timeoutMs: 20_000, intervalMs: 200 },
  )
  t.pass('the cache writes to the new master')
  const other = await createUser(app)
  // (After failing over, the limiter skips Redis for a moment and PINGs it: until then it fails open.)
  await waitFor(
    async () => {
      const failedOpen = app.rateLimitStats().failedOpen
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: `nobody-${++n}@example.test`, password: 'Wrong-Horse-x' },
      })
      return res.statusCode === 401 && app.rateLimitStats().failedOpen === failedOpen
    },
    { what: 'the limiter to count on the new master', timeoutMs: 20_000, intervalMs: 200 },
  )
  const before = app.rateLimitStats().failedOpen
  const statuses = []
  for (let i = 0; i < 4; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: other.email, password: `Wrong-Horse-${i}-y` },
    })
    statuses.push(res.statusCode)
  }
  t.same(statuses, [401, 401, 401, 429], 'the failed-login budget counts on the new master')
  t.equal(app.rateLimitStats().failedOpen, before, 'none let through unchecked')
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.json().status, 'healthy', 'readiness is healthy again')
})
