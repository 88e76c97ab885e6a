// PostgreSQL really fails under a running app: a server of the test's own (never the shared one) is
// crashed (SIGKILL of all its processes) and frozen (SIGSTOP) while clients read products and place
// orders. No request hangs: each answers within a bound (503 SERVICE_UNAVAILABLE with retry-after,
// in the envelope) while the database is down; the app recovers by itself when it is back; no
// accepted order is lost and stock matches the orders kept; shutdown with the database frozen is bounded.
import t from 'tap'
import { Writable } from 'node:stream'
import { performance } from 'node:perf_hooks'
import postgres from 'postgres'
import type { FastifyInstance } from 'fastify'
import { loggerOptions } from '../../plugins/request-context.js'
import { buildChecked, testConfig } from '../helpers/build.js'
import { createUser } from '../helpers/auth.js'
import { product } from '../helpers/marketplace.js'
import { startPostgres } from '../helpers/postgres-server.js'
import { percentile, startLoad, type Sample } from '../helpers/load.js'
import { waitFor } from '../helpers/wait.js'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

// The target is "about 1–2 s"; the bound leaves room for a loaded 2-core machine.
const BOUND_MS = 3000

interface Answer {
  status: number
  code?: string
  requestId?: string
  retryAfter?: string
  orderId?: string
}

const summary = (samples: Sample<Answer>[]) => {
  const ms = samples.map((s) => s.ms)
  return `${samples.length} requests, p50 ${Math.round(percentile(ms, 50))} ms, p90 ${Math.round(percentile(ms, 90))} ms, max ${Math.round(Math.max(...ms))} ms`
}

t.test('PostgreSQL crashed, then frozen, under load: answers within a bound, recovery by itself, bounded shutdown', async (t) => {
  const pg = await startPostgres(t)
  const admin = postgres(pg.url('postgres'), { max: 1, onnotice: () => {} })
  await admin`create database keel`
  await admin.end()

  const logs: { level: number; msg: string }[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line))
      done()
    },
  })
  // The production values of the guard (testConfig tolerates a slower probe): what is measured here.
  const config = testConfig(pg.url('keel'), { REDIS_URL: undefined, LOG_LEVEL: 'info', DB_STALL_MS: 500, DB_PROBE_TIMEOUT_MS: 1000 })
  const app: FastifyInstance = await buildChecked({ config, logger: { ...(loggerOptions(config) as object), stream } })
  let closed = false
  t.teardown(() => (closed ? undefined : app.close()))
  await app.ready()

  const seller = await createUser(app)
  const buyer = await createUser(app)
  const stocked = await product(app, seller, { stock: 1_000_000 })

  const downLog = () => (logs.filter((l) => l.msg.startsWith('database unavailable')).at(-1) as { err?: unknown } | undefined)?.err
  const accepted: string[] = []
  const send = async (client: number): Promise<Answer> => {
    const res =
      client % 2 === 0
        ? await app.inject({ method: 'GET', url: '/api/v1/products?limit=5' })
        : await app.inject({
            method: 'POST',
            url: '/api/v1/orders',
            headers: buyer.headers,
            payload: { items: [{ productId: stocked.id, quantity: 1 }] },
          })
    const body = res.json() as { code?: string; requestId?: string; data?: { id: string } }
    if (res.statusCode === 201) accepted.push(body.data!.id)
    return {
      status: res.statusCode,
      code: body.code,
      requestId: body.requestId,
      retryAfter: res.headers['retry-after'] as string | undefined,
    }
  }
  const load = startLoad(send, { concurrency: 6 })
  t.teardown(() => load.stop())
  const ok = (s: Sample<Answer>) => s.result.status < 300
  await waitFor(() => load.samples.filter(ok).length >= 20, { what: 'the load to run' })

  /**
   * Requests that were waiting on the database at `from` or sent after it, once `count` of them are
   * answered; `ms` is how long each waited for it (from `from` for those already in flight).
   */
  const during = async (from: number, count: number) => {
    await waitFor(() => load.samples.filter((s) => s.start + s.ms >= from).length >= count, {
      timeoutMs: 30_000,
      what: `${count} answers`,
    })
    return load.samples
      .filter((s) => s.start + s.ms >= from)
      .map((s) => (s.start >= from ? s : { ...s, start: from, ms: s.start + s.ms - from }))
  }
  const checkOutage = (t: Tap, samples: Sample<Answer>[], what: string) => {
    const refused = samples.filter((s) => s.result.status === 503)
    t.ok(
      samples.every((s) => s.ms < BOUND_MS),
      `no request waited ${BOUND_MS} ms or more for the ${what} database (${summary(samples)})`,
    )
    t.same(
      [...new Set(samples.filter((s) => !ok(s)).map((s) => s.result.status))],
      [503],
      'every request that could not be served is a 503',
    )
    t.ok(refused.length > samples.length / 2, `most are refused (${refused.length} of ${samples.length})`)
    t.ok(
      refused.every((s) => s.result.code === 'SERVICE_UNAVAILABLE' && s.result.requestId && Number(s.result.retryAfter) >= 1),
      'in the envelope (SERVICE_UNAVAILABLE, requestId) with retry-after',
    )
    t.comment(
      `${what}: ${summary(samples)}; 503 answered in p50 ${Math.round(
        percentile(
          refused.map((s) => s.ms),
          50,
        ),
      )} ms`,
    )
  }
  const recover = async (t: Tap, from: number, what: string) => {
    await waitFor(() => load.since(from).some(ok), { timeoutMs: 20_000, what: 'a request served again' })
    const first = load.since(from).find(ok)!
    t.comment(`${what}: served again ${Math.round(first.start + first.ms - from)} ms after the database was back`)
    const ready = await app.inject('/health/ready')
    t.equal(ready.statusCode, 200, 'ready again, without a restart')
    t.equal(app.dbStats().up, true)
  }

  await t.test('crashed', async (t) => {
    const crashedAt = await pg.crash()
    await waitFor(() => !app.dbStats().up, { intervalMs: 10, what: 'the database to be known down' })
    t.comment(`crashed: known down ${Math.round(performance.now() - crashedAt)} ms after the crash (${JSON.stringify(downLog())})`)
    const samples = await during(crashedAt, 60)
    checkOutage(t, samples, 'crashed')
    const started = performance.now()
    const ready = await app.inject('/health/ready')
    t.equal(ready.statusCode, 503, 'readiness says so')
    t.match(ready.json(), { status: 'unhealthy', checks: { database: 'down' } })
    t.ok(performance.now() - started < 1500, 'at once')
    t.equal(app.dbStats().up, false)

    await pg.restart()
    await recover(t, performance.now(), 'crashed')
  })

  await t.test('frozen (SIGSTOP): connections stay open and nothing answers', async (t) => {
    const frozenAt = await pg.freeze()
    try {
      await waitFor(() => !app.dbStats().up, { intervalMs: 10, what: 'the database to be known down' })
      t.comment(`frozen: known down ${Math.round(performance.now() - frozenAt)} ms after the freeze (${JSON.stringify(downLog())})`)
      const samples = await during(frozenAt, 60)
      checkOutage(t, samples, 'frozen')
      t.equal(app.dbStats().up, false, 'known down')
    } finally {
      await pg.resume()
    }
    await recover(t, performance.now(), 'frozen')
  })

  await load.stop()

  await t.test('no accepted order is lost, and stock matches the orders kept', async (t) => {
    const kept = await app.sql<{ id: string }[]>`select id from orders where id in ${app.sql(accepted)}`
    t.equal(kept.length, accepted.length, `all ${accepted.length} orders answered 201 are kept`)
    const [row] = await app.sql<{ stock: number; sold: number }[]>`
      select p.stock, (select coalesce(sum(quantity), 0)::int from order_items where product_id = p.id) as sold
      from products p where p.id = ${stocked.id}`
    t.equal(row!.stock + row!.sold, 1_000_000, 'stock + sold = the initial stock (no half-done order)')
  })

  t.test('logs: one warning per outage, its end, and no error', async (t) => {
    t.equal(logs.filter((l) => l.msg.startsWith('database unavailable')).length, 2, 'one warning per outage')
    t.equal(logs.filter((l) => l.msg === 'database is back').length, 2, 'and one line when it is back')
    const errors = logs.filter((l) => l.level >= 50)
    t.same(
      errors.map((l) => l.msg),
      [],
      'nothing logged as an error',
    )
  })

  await t.test('shutdown with the database frozen is bounded', async (t) => {
    await pg.freeze()
    try {
      const res = await app.inject({ method: 'GET', url: '/api/v1/products?limit=5' })
      t.equal(res.statusCode, 503)
      const started = performance.now()
      closed = true
      await app.close()
      const ms = performance.now() - started
      // Running jobs get SHUTDOWN_TIMEOUT_MS to finish; closing the pools after them takes a moment more.
      t.ok(ms < config.SHUTDOWN_TIMEOUT_MS + 3000, `closed in ${Math.round(ms)} ms (< SHUTDOWN_TIMEOUT_MS + 3 s)`)
    } finally {
      await pg.resume()
    }
  })
})
