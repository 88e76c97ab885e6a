// Redis stops (or hangs) under a running app: the limiter fails open (default: requests pass, one warning,
// counted) or closed (503 SERVICE_UNAVAILABLE), as configured; limiting resumes when Redis returns.
// Runs its own redis-server on a free port and kills it.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { Writable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { createTestDatabase, testConfig, buildChecked } from '../helpers/build.js'
import { freePort, startRedis, stopRedis } from '../helpers/redis-server.js'
import { loggerOptions } from '../../plugins/request-context.js'

/** Polls `check` every 50 ms until it is true; fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await delay(50)
  }
}

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

t.test(
  'Redis stops: fail-open lets requests through, fail-closed answers 503; both recover',
  { skip: hasRedisServer ? false : 'needs the redis-server binary on PATH' },
  async (t) => {
    const port = await freePort()
    let redis = await startRedis(port)
    t.teardown(() => stopRedis(redis))

    const databaseUrl = await createTestDatabase(t)
    const logs: { level: number; msg: string }[] = []
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line))
        done()
      },
    })
    const make = async (failOpen: boolean): Promise<FastifyInstance> => {
      const config = testConfig(databaseUrl, {
        REDIS_URL: `redis://127.0.0.1:${port}`,
        REDIS_KEY_PREFIX: `keel-test:fail-${failOpen ? 'open' : 'closed'}:`,
        RATE_LIMIT_MAX: 2,
        RATE_LIMIT_FAIL_OPEN: failOpen,
        LOG_LEVEL: 'info',
      })
      const app = await buildChecked({ config, logger: failOpen ? { ...(loggerOptions(config) as object), stream } : false })
      t.teardown(() => app.close())
      app.get('/t/ping', async () => ({ success: true, data: 'pong' }))
      await app.ready()
      return app
    }
    const open = await make(true)
    const closed = await make(false)
    const ping = (app: FastifyInstance, remoteAddress = '127.0.0.1') => app.inject({ method: 'GET', url: '/t/ping', remoteAddress })

    for (const app of [open, closed]) {
      t.same(
        [(await ping(app)).statusCode, (await ping(app)).statusCode, (await ping(app)).statusCode],
        [200, 200, 429],
        'limited while Redis is up',
      )
    }

    await stopRedis(redis)
    await until(() => open.redis!.status !== 'ready' && closed.redis!.status !== 'ready')

    for (const app of [open, closed]) {
      const still = await ping(app)
      t.equal(still.statusCode, 429, 'a client refused before the outage stays refused until its retry time (known locally)')
      t.ok(Number(still.headers['retry-after']) > 0)
    }

    const openCodes = []
    for (let i = 0; i < 5; i++) openCodes.push((await ping(open, '10.0.0.2')).statusCode)
    t.same(openCodes, [200, 200, 200, 200, 200], 'fail-open: every other request passes while Redis is down')
    t.match(open.rateLimitStats(), { degraded: true, failedOpen: 5, failedClosed: 0 }, 'and each is counted')
    const warnings = logs.filter((l) => l.msg.startsWith('rate limiter: Redis unavailable'))
    t.equal(warnings.length, 1, 'one warning for the outage, not one per request')

    const refused = await ping(closed, '10.0.0.2')
    t.equal(refused.statusCode, 503, 'fail-closed: refused')
    t.match(refused.json(), { success: false, code: 'SERVICE_UNAVAILABLE', error: 'Rate limiting is unavailable; try again shortly' })
    t.match(closed.rateLimitStats(), { degraded: true, failedClosed: 1 })
    t.equal((await closed.inject('/health')).statusCode, 200, 'liveness is never limited, so never refused')

    redis = await startRedis(port) // empty: the counts start again
    for (const app of [open, closed]) {
      // The limiter reconnects by itself: poll until a request is counted again (remaining 2 → 1).
      await until(async () => (await ping(app, '10.0.0.3')).headers['x-ratelimit-remaining'] === '1')
      t.same(
        [(await ping(app, '10.0.0.3')).statusCode, (await ping(app, '10.0.0.3')).statusCode],
        [200, 429],
        'limiting resumes when Redis is back',
      )
      t.equal(app.rateLimitStats().degraded, false)
    }
    t.ok(
      logs.some((l) => l.msg === 'rate limiter: Redis is back'),
      'the recovery is logged',
    )

    // A hung Redis (connection open, no answers) is cut short by REDIS_COMMAND_TIMEOUT_MS (250 ms).
    redis.kill('SIGSTOP')
    try {
      const started = Date.now()
      const [a, b] = await Promise.all([ping(open, '10.0.0.4'), ping(closed, '10.0.0.4')])
      const elapsed = Date.now() - started
      t.same([a.statusCode, b.statusCode], [200, 503], 'a hung Redis fails open or closed like a stopped one')
      t.ok(elapsed < 2000, `without waiting for Redis (${elapsed} ms)`)
    } finally {
      redis.kill('SIGCONT')
    }
  },
)
