// Redis really fails under a running app (a redis-server of the test's own, never the shared one):
// frozen (SIGSTOP: connections open, no answers) and killed. Reads keep their normal latency when
// the rate limiter fails open (it skips a Redis known down instead of waiting out a timeout per
// request), and answer 503 at once when it fails closed; readiness says "degraded"; writes made
// during the outage are never hidden by a stale cache entry; everything recovers by itself.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import type { FastifyInstance } from 'fastify'
import { buildChecked, createTestDatabase, testConfig } from '../helpers/build.js'
import { freePort, startRedis, stopRedis } from '../helpers/redis-server.js'
import { account, product } from '../helpers/marketplace.js'
import { percentile, startLoad, type Sample } from '../helpers/load.js'
import { waitFor } from '../helpers/wait.js'

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

interface Answer {
  status: number
  code?: string
  error?: string
  retryAfter?: string
  limited: boolean
}

const p50 = (samples: Sample<Answer>[]) =>
  percentile(
    samples.map((s) => s.ms),
    50,
  )

t.test('Redis frozen, then killed, under load', { skip: hasRedisServer ? false : 'needs the redis-server binary on PATH' }, async (t) => {
  const port = await freePort()
  let redis = await startRedis(port)
  let frozen = false
  t.teardown(async () => {
    if (frozen) redis.kill('SIGCONT')
    await stopRedis(redis)
  })
  const databaseUrl = await createTestDatabase(t)
  const make = async (failOpen: boolean): Promise<FastifyInstance> => {
    const config = testConfig(databaseUrl, {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_KEY_PREFIX: `keel-test:redis-fault-${failOpen ? 'open' : 'closed'}:`,
      RATE_LIMIT_FAIL_OPEN: failOpen,
    })
    const app = await buildChecked({ config, logger: false })
    t.teardown(() => app.close())
    await app.ready()
    return app
  }
  const open = await make(true)
  const closed = await make(false)
  const seller = await account(open)
  const item = await product(open, seller, { name: 'Before' })

  const read = (app: FastifyInstance) => async (): Promise<Answer> => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })
    const body = res.json() as { code?: string; error?: string }
    return {
      status: res.statusCode,
      code: body.code,
      error: body.error,
      retryAfter: res.headers['retry-after'] as string | undefined,
      limited: res.headers['x-ratelimit-remaining'] !== undefined,
    }
  }
  /** `count` reads from `app` by 4 clients at once. */
  const measure = async (app: FastifyInstance, count: number) => {
    const load = startLoad(read(app), { concurrency: 4 })
    await waitFor(() => load.samples.length >= count, { timeoutMs: 30_000, what: `${count} reads` })
    await load.stop()
    return load.samples
  }

  const normal = await measure(open, 200)
  t.ok(
    normal.every((s) => s.result.status === 200 && s.result.limited),
    'Redis up: reads answer, rate limited',
  )
  t.equal(open.rateLimitStats().degraded, false)

  await t.test('frozen (SIGSTOP)', async (t) => {
    // A cached read, then Redis freezes and the product changes.
    await open.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })
    redis.kill('SIGSTOP')
    frozen = true
    try {
      const patched = await open.inject({
        method: 'PATCH',
        url: `/api/v1/products/${item.id}`,
        headers: seller.headers,
        payload: { name: 'During the freeze' },
      })
      t.equal(patched.statusCode, 200, 'writes still work')

      const reads = await measure(open, 200)
      t.ok(
        reads.every((s) => s.result.status === 200),
        'fail-open: every read is served',
      )
      // Reads go to the database instead of the cache (a few ms more), but no longer wait out the
      // Redis command timeout (250 ms) each: only the few that find the outage do.
      const [before, during] = [p50(normal), p50(reads)]
      const waited = reads.filter((s) => s.ms >= 250).length
      t.ok(during < 125, `p50 ${during.toFixed(1)} ms with Redis frozen (${before.toFixed(1)} ms with it up)`)
      t.ok(waited <= reads.length / 10, `${waited} of ${reads.length} reads took 250 ms or more`)
      t.comment(
        `Redis frozen, fail-open: p50 ${during.toFixed(1)} ms (up: ${before.toFixed(1)} ms), p90 ${percentile(
          reads.map((s) => s.ms),
          90,
        ).toFixed(1)} ms, max ${Math.max(...reads.map((s) => s.ms)).toFixed(0)} ms`,
      )
      t.equal(open.rateLimitStats().degraded, true, 'the limiter knows')

      const refused = await measure(closed, 100)
      t.ok(
        refused
          .slice(8)
          .every((s) => s.result.status === 503 && s.result.code === 'SERVICE_UNAVAILABLE' && Number(s.result.retryAfter) >= 1),
        'fail-closed: 503 in the envelope with retry-after',
      )
      t.ok(p50(refused) < 50, `at once (p50 ${p50(refused).toFixed(1)} ms)`)

      const started = Date.now()
      const ready = await open.inject('/health/ready')
      t.equal(ready.statusCode, 200, 'readiness: still ready')
      t.match(ready.json(), { status: 'degraded', checks: { cache: 'down', database: 'ok' } })
      t.ok(Date.now() - started < 1500, 'answered within the check timeout')

      const fresh = await open.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })
      t.equal(fresh.json().data.name, 'During the freeze', 'no stale read while frozen')
    } finally {
      redis.kill('SIGCONT')
      frozen = false
    }
    // Recovery: limiting resumes by itself; the write made during the freeze is what is served.
    await waitFor(async () => (await read(open)()).status === 200 && !open.rateLimitStats().degraded, { what: 'limiting to resume' })
    await waitFor(async () => (await read(closed)()).status === 200, { what: 'fail-closed to serve again' })
    const after = await open.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })
    t.equal(after.json().data.name, 'During the freeze', 'no stale read after the freeze (the cache entry was dropped)')
  })

  await t.test('killed', async (t) => {
    await stopRedis(redis)
    const reads = await measure(open, 100)
    t.ok(
      reads.every((s) => s.result.status === 200),
      'fail-open: reads are served',
    )
    t.comment(`Redis killed, fail-open: p50 ${p50(reads).toFixed(1)} ms`)
    const patched = await open.inject({
      method: 'PATCH',
      url: `/api/v1/products/${item.id}`,
      headers: seller.headers,
      payload: { name: 'While Redis was down' },
    })
    t.equal(patched.statusCode, 200, 'writes are served')
    const fresh = await open.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })
    t.equal(fresh.json().data.name, 'While Redis was down', 'no stale read')
    const ready = await open.inject('/health/ready')
    t.equal(ready.statusCode, 200)
    t.match(ready.json(), { status: 'degraded', checks: { cache: 'down' } })

    redis = await startRedis(port)
    await waitFor(async () => (await open.inject('/health/ready')).json().status === 'healthy', { what: 'readiness to recover' })
    await waitFor(async () => (await read(open)()).status === 200 && !open.rateLimitStats().degraded, { what: 'limiting to resume' })
    const hits = open.cache.stats().hits
    await open.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })
    await open.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })
    t.ok(open.cache.stats().hits > hits, 'the cache is used again')
    t.equal((await open.inject({ method: 'GET', url: `/api/v1/products/${item.id}` })).json().data.name, 'While Redis was down')
  })
})
